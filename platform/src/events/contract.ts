import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Every event travels in this envelope; `type` carries the version (`listen.completed.v1`). */
export const EventEnvelope = z.object({
  id: z.uuid(),
  type: z.string().regex(/^[a-z]+(\.[a-z_]+)+\.v\d+$/),
  source: z.string(),
  occurredAt: z.iso.datetime({ offset: true }),
  requestId: z.string().nullish(),
  payload: z.record(z.string(), z.unknown()),
});
export type EventEnvelope = z.infer<typeof EventEnvelope>;

export interface EventContract<Type extends string = string, Payload extends z.ZodType = z.ZodType> {
  type: Type;
  payload: Payload;
}

export type PayloadOf<C extends EventContract> = z.infer<C['payload']>;

/** Declares a typed, versioned event contract. */
export function defineEvent<const Type extends string, Payload extends z.ZodObject>(type: Type, payload: Payload): EventContract<Type, Payload> {
  if (!EventEnvelope.shape.type.safeParse(type).success) throw new Error(`Event type must look like context.thing.happened.v1: ${type}`);
  return { type, payload };
}

export function newEnvelope(source: string, type: string, payload: Record<string, unknown>, requestId?: string | null): EventEnvelope {
  return { id: randomUUID(), type, source, occurredAt: new Date().toISOString(), requestId: requestId ?? null, payload };
}

/** Thrown for an event that can never be handled (it does not match its contract): dead-lettered at once. */
export class PoisonEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonEventError';
  }
}
