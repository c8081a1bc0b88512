import { z } from 'zod';

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

export type Role = 'FAN' | 'ARTIST' | 'ADMIN';

export interface RegistrationInput {
  email: string;
  password: string;
  displayName: string;
  role?: Role | null;
}

export type RegistrationCheck =
  | { ok: true; email: string; emailNormalized: string; displayName: string; role: Exclude<Role, 'ADMIN'> }
  | { ok: false; reason: 'forbidden-role'; message: string }
  | { ok: false; reason: 'invalid'; field: string; message: string };

const emailSchema = z.email();

/** Emails are compared case-insensitively. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** An email address as registration accepts it (trimmed, at most 254 characters), or null. */
export function validEmail(raw: string): string | null {
  const email = raw.trim();
  return email.length <= 254 && emailSchema.safeParse(email).success ? email : null;
}

/** The registration rules of the contract, as a pure function. */
export function checkRegistration(input: RegistrationInput): RegistrationCheck {
  const email = validEmail(input.email);
  if (!email) {
    return { ok: false, reason: 'invalid', field: 'email', message: 'email is not a valid email address' };
  }
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    return { ok: false, reason: 'invalid', field: 'password', message: `password must be at least ${MIN_PASSWORD_LENGTH} characters` };
  }
  if (input.password.length > MAX_PASSWORD_LENGTH) {
    return { ok: false, reason: 'invalid', field: 'password', message: `password must be at most ${MAX_PASSWORD_LENGTH} characters` };
  }
  const displayName = input.displayName.trim();
  if (displayName.length === 0) return { ok: false, reason: 'invalid', field: 'displayName', message: 'displayName must not be empty' };
  if (displayName.length > 100) return { ok: false, reason: 'invalid', field: 'displayName', message: 'displayName must be at most 100 characters' };
  const role = input.role ?? 'FAN';
  if (role === 'ADMIN') return { ok: false, reason: 'forbidden-role', message: 'The ADMIN role cannot be self-assigned' };
  return { ok: true, email, emailNormalized: normalizeEmail(email), displayName, role };
}

/** Roles an admin may set: a non-empty set of known roles, without duplicates. */
export function normalizeRoles(roles: string[]): Role[] | null {
  const unique = [...new Set(roles)];
  if (unique.length === 0 || unique.some((r) => r !== 'FAN' && r !== 'ARTIST' && r !== 'ADMIN')) return null;
  const order: Role[] = ['FAN', 'ARTIST', 'ADMIN'];
  return order.filter((r) => unique.includes(r));
}
