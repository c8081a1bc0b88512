// Requests whose operation cannot run over HTTP: refused with 400 and a request code, where Apollo's
// gateway executor used to throw and the answer was a 500 INTERNAL_SERVER_ERROR (found by
// test/fuzz.e2e.test.ts, issue 13).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@vibestream/testkit';
import { identitySubgraph } from '@vibestream/identity';
import { rewardsSubgraph } from '@vibestream/rewards';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack('opguard', [identitySubgraph, rewardsSubgraph]);
}, 60_000);
afterAll(async () => stack?.stop());

async function post(body: unknown) {
  const response = await fetch(stack.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await response.json()) as { errors?: { message: string; extensions?: { code?: string } }[] };
  return { status: response.status, code: json.errors?.[0]?.extensions?.code, message: json.errors?.[0]?.message };
}

it('answers an operationName the document does not define with 400 OPERATION_RESOLUTION_FAILURE', async () => {
  expect(await post({ query: 'query A { __typename }', operationName: 'B' })).toEqual({
    status: 400,
    code: 'OPERATION_RESOLUTION_FAILURE',
    message: 'Unknown operation named "B".',
  });
  expect(await post({ query: 'query A { __typename } query B { __typename }' })).toMatchObject({ status: 400, code: 'OPERATION_RESOLUTION_FAILURE' });
  expect(await post({ query: 'query A { __typename } query B { __typename }', operationName: 'B' })).toMatchObject({ status: 200, code: undefined });
});

it('answers a subscription over HTTP with 400 BAD_REQUEST (subscriptions are served over graphql-ws)', async () => {
  const answer = await post({ query: 'subscription { rewardClaimed(recipient: "0x0000000000000000000000000000000000000001") { id } }' });
  expect(answer).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
  expect(answer.message).toContain('graphql-ws');
});
