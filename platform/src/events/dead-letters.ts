import type { MikroORM } from '@mikro-orm/postgresql';
import type { DeadLetter, DeadLetterStore } from './transport.ts';

interface DeadLetterRow {
  envelope: unknown;
  error: string;
}

/**
 * A consumer group's dead letters in the `dead_letters` table of its own schema: where the
 * in-process bus keeps them, so that, as in Redis's dead-letter streams, they outlive the process.
 */
export function deadLetterTable(orm: MikroORM, group: string): DeadLetterStore {
  const em = () => orm.em.fork({ disableContextResolution: true });
  return {
    async add(type: string, letter: DeadLetter): Promise<void> {
      const eventId = (letter.envelope as { id?: unknown } | null)?.id;
      await em().execute('insert into dead_letters (consumer, event_id, type, envelope, error) values (?, ?, ?, ?::jsonb, ?)', [
        group,
        typeof eventId === 'string' ? eventId : null,
        type,
        JSON.stringify(letter.envelope ?? null),
        letter.error,
      ]);
    },
    async list(type: string): Promise<DeadLetter[]> {
      const rows = (await em().execute('select envelope, error from dead_letters where consumer = ? and type = ? order by id', [
        group,
        type,
      ])) as DeadLetterRow[];
      return rows.map((row) => ({ envelope: row.envelope, group, error: row.error }));
    },
  };
}
