/** A numeric option from its flag (already parsed) or else its environment variable. */
export function numberOption(flag: string | undefined, name: string, envName: string, fallback: number, min: number): number {
  const raw = flag ?? process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} (${envName}) must be a number >= ${min}`);
  return value;
}
