import type { NotificationKind, RenderedNotification } from './notifications.ts';

/** The EmailContent shape of platform's renderEmail (kept structural: the domain does no I/O). */
export interface NotificationEmailContent {
  preheader: string;
  heading: string;
  paragraphs: string[];
  action: { label: string; url: string };
  footer: string;
  footerLink: { label: string; url: string };
}

export interface NotificationEmail {
  subject: string;
  content: NotificationEmailContent;
  /** RFC 2369 List-Unsubscribe and RFC 8058 List-Unsubscribe-Post (one click). */
  headers: Record<string, string>;
}

/** What each kind of email is, in the footer's "why you get this". */
export const kindDescriptions: Record<NotificationKind, string> = {
  REWARD_VOUCHER: 'listening rewards',
  ORDER_FILLED: 'order fills',
  REVENUE_PAID: 'revenue payouts',
  DEPOSIT_SUCCEEDED: 'deposits',
  SUBSCRIPTION_CHANGED: 'subscription changes',
  CAMPAIGN_NFT_MINTED: 'campaign NFTs',
};

/** A display name fit for a greeting: trimmed, control characters out, at most 80 characters; none: no name. */
export function greetingName(displayName: string | null | undefined): string | null {
  const cleaned = (displayName ?? '')
    .replace(/[\p{Cc}\p{Cf}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 80)
    .trim();
  return cleaned || null;
}

/** A subject line: one line, at most 150 characters. */
function subjectOf(title: string): string {
  const line = title.replace(/[\r\n]+/g, ' ').trim();
  return line.length > 150 ? `${line.slice(0, 149)}…` : line;
}

/**
 * One notification as an email: its title as subject and heading, the user's name, its body, a
 * button into the web app's notifications, and the kind's unsubscribe link (in the footer and as
 * List-Unsubscribe with one-click POST).
 */
export function notificationEmail(input: {
  kind: NotificationKind;
  rendered: RenderedNotification;
  displayName: string | null;
  /** The web app: `<webUrl>/notifications` and `<webUrl>/unsubscribe?token=`. */
  webUrl: string;
  /** The gateway's public address: `<apiUrl>/email/unsubscribe?token=` takes the one-click POST. */
  apiUrl: string;
  unsubscribeToken: string;
}): NotificationEmail {
  const name = greetingName(input.displayName);
  const token = encodeURIComponent(input.unsubscribeToken);
  const what = kindDescriptions[input.kind];
  const oneClick = `${input.apiUrl}/email/unsubscribe?token=${token}`;
  return {
    subject: subjectOf(input.rendered.title),
    content: {
      preheader: input.rendered.body,
      heading: input.rendered.title,
      paragraphs: [name ? `Hi ${name},` : 'Hi,', input.rendered.body],
      action: { label: 'Open your notifications', url: `${input.webUrl}/notifications` },
      footer: `You get this email because email is on for ${what} in your VibeStream notification settings.`,
      footerLink: { label: `Stop emails about ${what}`, url: `${input.webUrl}/unsubscribe?token=${token}` },
    },
    headers: {
      'List-Unsubscribe': `<${oneClick}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}
