import { createElement as h, type ReactNode } from 'react';
import { Body, Button, Container, Head, Heading, Hr, Html, Link, Preview, Section, Text } from '@react-email/components';
import { render } from '@react-email/render';

/** One email's content: every context's templates are made of this, rendered to HTML and text from the same source. */
export interface EmailContent {
  /** The line a mail client shows after the subject (hidden in the HTML body). */
  preheader?: string;
  heading: string;
  paragraphs: string[];
  /** The one button of the email (its URL also written out in the text part). */
  action?: { label: string; url: string };
  /** Small print at the end (why the reader got this). */
  footer?: string;
  /** A link under the footer (e.g. unsubscribe). */
  footerLink?: { label: string; url: string };
}

const styles = {
  body: { backgroundColor: '#f4f4f7', fontFamily: 'Helvetica, Arial, sans-serif', margin: 0, padding: '24px 0' },
  container: { backgroundColor: '#ffffff', borderRadius: '8px', margin: '0 auto', maxWidth: '560px', padding: '32px' },
  heading: { color: '#111827', fontSize: '22px', margin: '0 0 16px' },
  text: { color: '#374151', fontSize: '15px', lineHeight: '24px', margin: '0 0 12px' },
  button: { backgroundColor: '#6d28d9', borderRadius: '6px', color: '#ffffff', fontSize: '15px', padding: '12px 20px', textDecoration: 'none' },
  footer: { color: '#6b7280', fontSize: '12px', lineHeight: '18px', margin: '0 0 4px' },
};

function emailElement(content: EmailContent): ReactNode {
  return h(
    Html,
    { lang: 'en' },
    h(Head),
    content.preheader ? h(Preview, null, content.preheader) : null,
    h(
      Body,
      { style: styles.body },
      h(
        Container,
        { style: styles.container },
        h(Heading, { as: 'h1', style: styles.heading }, content.heading),
        ...content.paragraphs.map((paragraph, i) => h(Text, { key: `p${i}`, style: styles.text }, paragraph)),
        content.action
          ? h(Section, { style: { margin: '24px 0' } }, h(Button, { href: content.action.url, style: styles.button }, content.action.label))
          : null,
        content.footer || content.footerLink ? h(Hr) : null,
        content.footer ? h(Text, { style: styles.footer }, content.footer) : null,
        content.footerLink ? h(Text, { style: styles.footer }, h(Link, { href: content.footerLink.url }, content.footerLink.label)) : null,
      ),
    ),
  );
}

/**
 * The HTML and the plain text of an email, both from one element tree (react-email): the text part
 * carries the same words and every link written out. Values are text, escaped by React: a
 * notification's song title cannot inject markup.
 */
export async function renderEmail(content: EmailContent): Promise<{ html: string; text: string }> {
  const element = emailElement(content);
  const [html, text] = await Promise.all([render(element), render(element, { plainText: true })]);
  return { html, text };
}
