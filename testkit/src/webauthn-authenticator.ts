// A WebAuthn authenticator in software, for tests in Node without a browser: an ES256 key per
// credential (node:crypto), authenticator data with the RP id hash, flags and a signature counter,
// clientDataJSON naming an origin, attestation 'none' in CBOR (the CBOR encoder @simplewebauthn/server
// itself uses). It answers creation and request options as a browser's startRegistration and
// startAuthentication would, as JSON; every part can be bent to play an attacker.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const b64 = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url');

export interface SoftCredential {
  id: string;
  privateKey: KeyObject;
  /** COSE_Key of the public key (EC2, P-256, ES256). */
  cosePublicKey: Uint8Array;
  userHandle: string;
  rpId: string;
  counter: number;
}

/** What a test may bend in one ceremony. */
export interface Bend {
  origin?: string;
  rpId?: string;
  challenge?: string;
  /** The counter to report (default: the credential's next one). */
  counter?: number;
  type?: string;
}

function cosePublicKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  const cose = new Map<number, number | Uint8Array>([
    [1, 2], // kty: EC2
    [3, -7], // alg: ES256
    [-1, 1], // crv: P-256
    [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
    [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
  ]);
  return isoCBOR.encode(cose);
}

function authenticatorData(rpId: string, flags: number, counter: number, attested?: { credentialId: Buffer; cosePublicKey: Uint8Array }): Buffer {
  const head = Buffer.alloc(37);
  createHash('sha256').update(rpId).digest().copy(head, 0);
  head[32] = flags;
  head.writeUInt32BE(counter >>> 0, 33);
  if (!attested) return head;
  const length = Buffer.alloc(2);
  length.writeUInt16BE(attested.credentialId.length);
  return Buffer.concat([head, Buffer.alloc(16) /* aaguid: none */, length, attested.credentialId, Buffer.from(attested.cosePublicKey)]);
}

const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

export class SoftwareAuthenticator {
  readonly credentials: SoftCredential[] = [];
  readonly origin: string;

  constructor(origin: string) {
    this.origin = origin;
  }

  /** Answers creation options (their JSON) with a new credential, as RegistrationResponseJSON text. */
  register(optionsJson: string, bend: Bend = {}, reuse?: SoftCredential): { response: string; credential: SoftCredential } {
    const options = JSON.parse(optionsJson) as { challenge: string; rp: { id: string }; user: { id: string } };
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rpId = bend.rpId ?? options.rp.id;
    const credential: SoftCredential = reuse ?? {
      id: b64(randomBytes(16)),
      privateKey,
      cosePublicKey: cosePublicKey(publicKey),
      userHandle: options.user.id,
      rpId: options.rp.id,
      counter: bend.counter ?? 0,
    };
    const credentialId = Buffer.from(credential.id, 'base64url');
    const clientDataJSON = Buffer.from(
      JSON.stringify({
        type: bend.type ?? 'webauthn.create',
        challenge: bend.challenge ?? options.challenge,
        origin: bend.origin ?? this.origin,
        crossOrigin: false,
      }),
    );
    const authData = authenticatorData(rpId, UP | UV | AT, credential.counter, { credentialId, cosePublicKey: credential.cosePublicKey });
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Map<string, never> | Uint8Array>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, never>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    if (!reuse) this.credentials.push(credential);
    const response = {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: { clientDataJSON: b64(clientDataJSON), attestationObject: b64(attestationObject), transports: ['internal'] },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
    return { response: JSON.stringify(response), credential };
  }

  /** Answers request options (their JSON) with `credential` (default: the first allowed one, or the first held), as AuthenticationResponseJSON text. */
  assert(optionsJson: string, bend: Bend = {}, credential?: SoftCredential): string {
    const options = JSON.parse(optionsJson) as { challenge: string; rpId: string; allowCredentials?: { id: string }[] };
    const allowed = options.allowCredentials?.map((c) => c.id);
    const chosen = credential ?? this.credentials.find((c) => !allowed?.length || allowed.includes(c.id));
    if (!chosen) throw new Error('the software authenticator holds no allowed credential');
    const counter = bend.counter ?? chosen.counter + 1;
    chosen.counter = counter;
    const clientDataJSON = Buffer.from(
      JSON.stringify({
        type: bend.type ?? 'webauthn.get',
        challenge: bend.challenge ?? options.challenge,
        origin: bend.origin ?? this.origin,
        crossOrigin: false,
      }),
    );
    const authData = authenticatorData(bend.rpId ?? options.rpId, UP | UV, counter);
    const signature = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]), chosen.privateKey);
    return JSON.stringify({
      id: chosen.id,
      rawId: chosen.id,
      type: 'public-key',
      response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature), userHandle: chosen.userHandle },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    });
  }
}
