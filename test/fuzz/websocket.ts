// graphql-ws on the gateway's /graphql, spoken by hand so that it can also be spoken badly:
// subscriptions of the contract and from the schema (roots behind fragments, unknown fields,
// mutated variables), with odd connection params, messages before the handshake, unknown message
// types, duplicate ids and text that is not JSON. What a case sees is folded into an HTTP-like
// answer for the oracle: the close code as its status when the server closes with an error
// (graphql-ws's 4500 and WebSocket's 1011 are internal errors, seen as 5xx), the messages as its body.
import { WebSocket } from 'ws';
import type { GraphQLSchema } from 'graphql';
import type { RawOutcome } from './http.ts';
import type { GraphQLBody } from './queries.ts';
import { fuzzString, inputValue, wrongValue, type ValueContext } from './values.ts';
import type { ContractOperation } from './contract.ts';

export interface WebSocketScript {
  /** connection_init's payload (or a message that is not one), then the messages after the ack. */
  init: unknown;
  messages: unknown[];
}

/** The messages of one connection: mostly a proper handshake and one or two subscribe messages. */
export function webSocketScript(ctx: ValueContext, schema: GraphQLSchema, subscriptions: ContractOperation[], authorization: string | null): WebSocketScript {
  const rng = ctx.rng;
  const init = rng.weighted<() => unknown>([
    [8, () => ({ type: 'connection_init', payload: authorization ? { authorization } : {} })],
    [1, () => ({ type: 'connection_init', payload: { authorization: rng.pick(['Bearer', 'Bearer x.y.z', fuzzString(rng), 5, null]) } })],
    [1, () => ({ type: 'connection_init', payload: rng.pick<unknown>(['x', [], null, { authorization: { a: 1 } }]) })],
    [1, () => ({ type: 'subscribe', id: '1', payload: { query: 'subscription { rewardVoucherIssued { epoch } }' } })],
    [1, () => rng.pick<unknown>(['not json', '{', '', { type: 'ping' }, { type: 'nope' }, { type: 'connection_init', payload: {} }])],
  ])();
  const messages: unknown[] = [];
  const count = rng.weighted([
    [6, 1],
    [2, 2],
    [1, 0],
  ] as const);
  for (let i = 0; i < count; i++) {
    const id = rng.chance(0.9) ? String(i + 1) : rng.pick<unknown>(['1', '', 5, null, 'x'.repeat(1000)]);
    messages.push(
      rng.weighted<() => unknown>([
        [6, () => ({ type: 'subscribe', id, payload: subscriptionPayload(ctx, schema, subscriptions) })],
        [
          1,
          () => ({
            type: 'subscribe',
            id,
            payload: rng.pick<unknown>([{}, { query: 5 }, null, 'x', { query: '{ __typename }' }, { query: 'mutation { logout }' }]),
          }),
        ],
        [
          1,
          () =>
            rng.pick<unknown>([
              { type: 'complete', id },
              { type: 'connection_init', payload: {} },
              { type: 'next', id, payload: {} },
              { type: 'pong' },
              'not json',
              { type: wrongValue(rng) },
            ]),
        ],
      ])(),
    );
  }
  return { init, messages };
}

function subscriptionPayload(ctx: ValueContext, schema: GraphQLSchema, subscriptions: ContractOperation[]): GraphQLBody {
  const rng = ctx.rng;
  const root = schema.getSubscriptionType()!;
  const fields = Object.values(root.getFields());
  if (subscriptions.length && rng.chance(0.5)) {
    const operation = rng.pick(subscriptions);
    const variables = Object.fromEntries(operation.variables.map((v) => [v.name, inputValue(ctx, v.type, v.hint, rng.chance(0.4))]));
    return { query: operation.text, variables };
  }
  const field = rng.pick(fields);
  const args = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
  const defs = field.args.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
  const variables = Object.fromEntries(field.args.map((a) => [a.name, inputValue(ctx, a.type, a.name, rng.chance(0.3))]));
  const selection = `${field.name}${args ? `(${args})` : ''} { __typename ${rng.pick(['', 'id', 'epoch', 'songId', 'bids { priceCents }'])} }`;
  // The root behind an inline fragment or a named one, two roots, an alias, a directive, introspection.
  const body = rng.weighted<() => string>([
    [4, () => `{ ${selection} }`],
    [2, () => `{ ... on Subscription { ${selection} } }`],
    [1, () => `{ ...F } fragment F on Subscription { ${selection} }`],
    [1, () => `{ ${selection} other: ${selection} }`],
    [1, () => `{ __typename ${selection} }`],
    [1, () => `{ ${selection.replace('{', '@include(if: true) {')} }`],
    [1, () => `{ a: ${selection} }`],
  ])();
  return { query: `subscription${defs ? `(${defs})` : ''} ${body}`, variables };
}

/** Plays a script on a fresh connection and reports what came back, as the oracle reads answers. */
export function playWebSocket(port: number, script: WebSocketScript, windowMs: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const received: string[] = [];
    let settled = false;
    const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
    const finish = (status: number, note: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.terminate();
      // The results as an array the oracle reads like HTTP answers ({ data, errors }), then how it ended.
      const results = received.map((text) => {
        try {
          const message = JSON.parse(text) as { type?: string; payload?: unknown };
          return message.type === 'error' ? { errors: message.payload } : message.type === 'next' ? message.payload : message;
        } catch {
          return { text };
        }
      });
      resolve({ response: { status, headers: {}, body: Buffer.from(JSON.stringify([...results, { end: note }])) } });
    };
    const timer = setTimeout(() => finish(101, 'window over'), windowMs + 2_000);
    const sendOne = (message: unknown) => socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    socket.on('open', () => {
      sendOne(script.init);
      // Without an ack (a bad handshake) the rest goes anyway, as a client in a hurry would send it.
      setTimeout(() => {
        for (const message of script.messages) if (socket.readyState === WebSocket.OPEN) sendOne(message);
        setTimeout(() => finish(101, 'window over'), windowMs);
      }, 30);
    });
    socket.on('message', (data) => received.push(String(data)));
    socket.on('close', (code, reason) => {
      const text = `closed ${code} ${reason.toString()}`;
      // 1000/1001 are normal ends; 44xx are graphql-ws's and the gateway's refusals; 4500 and 1011 are internal errors.
      finish(code === 4500 || code === 1011 ? 500 : code >= 4400 && code < 4500 ? 400 : 101, text);
    });
    socket.on('unexpected-response', (_req, res) => finish(res.statusCode ?? 0, `upgrade refused with ${res.statusCode}`));
    socket.on('error', (error) => finish(0, `socket error: ${error.message}`));
  });
}
