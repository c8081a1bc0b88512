import { PermanentJobError, renderEmail, z, type EmailContent, type JobHandler, type Mailer } from '@vibestream/platform';

/**
 * identity's mails (verification, confirming a new address, password reset, the notice of a
 * change of email) and the jobs that send them. A mail job's payload holds what the template needs,
 * the link included, and is cleared once sent (redactOnSuccess).
 */

/** Sends one of identity's mails. */
export const MAIL_JOB = 'identity.mail';
/** Mails a reset link if the email has an account; does nothing otherwise. */
export const PASSWORD_RESET_JOB = 'identity.password-reset';

export const IdentityMail = z.discriminatedUnion('template', [
  z.object({
    template: z.enum(['verify-email', 'confirm-new-email', 'reset-password']),
    to: z.string(),
    displayName: z.string(),
    link: z.url(),
    expiresInSeconds: z.number().int().positive(),
  }),
  z.object({ template: z.literal('email-changed'), to: z.string(), displayName: z.string(), newEmail: z.string() }),
]);
export type IdentityMail = z.output<typeof IdentityMail>;

export const PasswordResetRequest = z.object({ emailNormalized: z.string() });
export type PasswordResetRequest = z.output<typeof PasswordResetRequest>;

/** "24 hours", "1 hour", "30 minutes", "45 seconds". */
export function duration(seconds: number): string {
  const [amount, unit] = seconds % 3600 === 0 ? [seconds / 3600, 'hour'] : seconds % 60 === 0 ? [seconds / 60, 'minute'] : [seconds, 'second'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

/** The subject, HTML and text of a mail: both bodies from one source (the platform's renderEmail). */
export async function renderIdentityMail(mail: IdentityMail): Promise<{ subject: string; html: string; text: string }> {
  const { subject, content } = identityMailContent(mail);
  return { subject, ...(await renderEmail(content)) };
}

/** What a mail says. */
export function identityMailContent(mail: IdentityMail): { subject: string; content: EmailContent } {
  const greeting = `Hi ${mail.displayName},`;
  switch (mail.template) {
    case 'verify-email':
      return {
        subject: 'Verify your email address',
        content: {
          preheader: 'Confirm this is your email address for VibeStream.',
          heading: 'Verify your email address',
          paragraphs: [greeting, `Please confirm that ${mail.to} is your email address. The link works once, for ${duration(mail.expiresInSeconds)}.`],
          action: { label: 'Verify email address', url: mail.link },
          footer: 'If you did not ask for this, you can ignore this email.',
        },
      };
    case 'confirm-new-email':
      return {
        subject: 'Confirm your new email address',
        content: {
          preheader: 'Confirm the new email address of your VibeStream account.',
          heading: 'Confirm your new email address',
          paragraphs: [
            greeting,
            `Your VibeStream account now uses ${mail.to}. Please confirm it is yours. The link works once, for ${duration(mail.expiresInSeconds)}.`,
          ],
          action: { label: 'Confirm email address', url: mail.link },
          footer: 'If you did not change your email, sign in and change it back, then reset your password.',
        },
      };
    case 'reset-password':
      return {
        subject: 'Reset your password',
        content: {
          preheader: 'Choose a new password for your VibeStream account.',
          heading: 'Reset your password',
          paragraphs: [
            greeting,
            `Someone asked to reset the password of your VibeStream account. The link works once, for ${duration(mail.expiresInSeconds)}; using it signs you out everywhere.`,
          ],
          action: { label: 'Choose a new password', url: mail.link },
          footer: 'If you did not ask for this, ignore this email: your password stays as it is.',
        },
      };
    case 'email-changed':
      return {
        subject: 'Your email address was changed',
        content: {
          preheader: 'The email address of your VibeStream account was changed.',
          heading: 'Your email address was changed',
          paragraphs: [
            greeting,
            `The email address of your VibeStream account was changed to ${mail.newEmail}. We will not send mail to this address any more.`,
          ],
          footer: 'If you did not do this, reply to this email or contact support at once: someone else may have your password.',
        },
      };
  }
}

/** The handlers of identity's jobs, for its job worker. */
export function identityJobHandlers(deps: { mailer: Mailer; mailPasswordReset: (request: PasswordResetRequest) => Promise<void> }): Record<string, JobHandler> {
  return {
    [MAIL_JOB]: async (payload: unknown) => {
      const mail = IdentityMail.safeParse(payload);
      if (!mail.success) throw new PermanentJobError('the mail job has no valid payload');
      const { subject, html, text } = await renderIdentityMail(mail.data);
      await deps.mailer.send({ to: mail.data.to, subject, html, text });
    },
    [PASSWORD_RESET_JOB]: async (payload: unknown) => {
      const request = PasswordResetRequest.safeParse(payload);
      if (!request.success) throw new PermanentJobError('the password reset job has no valid payload');
      await deps.mailPasswordReset(request.data);
    },
  };
}
