import { createPublicKey } from "node:crypto";
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { AuthConfig } from "./config.js";
import { ProtocolError } from "./protocol/errors.js";
import { parseId } from "./protocol/parse.js";

/** Who a handshake proves to be, and until when. */
export interface Identity {
  userId: string;
  /** Epoch milliseconds when the token expires; the socket is cut then. */
  expiresAt?: number;
}

export interface HandshakeInput {
  auth: Record<string, unknown> | undefined;
  query: Record<string, unknown>;
}

const first = (value: unknown) => (Array.isArray(value) ? undefined : value);

/** The guide's handshake: `user_id` in the query or the auth object, required and an id. */
function claimedUserId(input: HandshakeInput): string | undefined {
  const raw = first(input.auth?.["user_id"] ?? input.query["user_id"]);
  if (raw === undefined || raw === null || raw === "") return undefined;
  try {
    return String(parseId(raw, "user_id"));
  } catch {
    throw new ProtocolError("USER_ID_INVALID", "user_id inválido");
  }
}

/**
 * Builds the handshake check. Without keys (development) the bare user_id is trusted, as in
 * the guide. With keys, a JWT in `auth.token` or `?token=` is required: HS256 with SECRET_KEY,
 * RS256/ES256 with a public key or a JWKS; `sub` is the user id, `exp` is required and
 * enforced, and a user_id that disagrees with `sub` is refused.
 */
export function createAuthenticator(config: AuthConfig): (input: HandshakeInput) => Promise<Identity> {
  if (config.mode === "none") {
    return async (input) => {
      const userId = claimedUserId(input);
      if (userId === undefined) throw new ProtocolError("USER_ID_REQUIRED", "user_id es requerido");
      return { userId };
    };
  }
  const keys: { key: Uint8Array | ReturnType<typeof createPublicKey> | JWTVerifyGetKey; algorithms: string[] }[] = [];
  if (config.secret) keys.push({ key: new TextEncoder().encode(config.secret), algorithms: ["HS256"] });
  if (config.publicKey) keys.push({ key: createPublicKey(config.publicKey), algorithms: ["RS256", "ES256"] });
  if (config.jwksUrl) keys.push({ key: createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 3000 }), algorithms: ["RS256", "ES256"] });
  const options = {
    requiredClaims: ["sub", "exp"],
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };

  return async (input) => {
    const token = first(input.auth?.["token"] ?? input.query["token"]);
    if (typeof token !== "string" || token === "") throw new ProtocolError("UNAUTHORIZED", "token requerido");
    let payload: { sub?: string; exp?: number } | undefined;
    for (const { key, algorithms } of keys) {
      try {
        // The key kinds differ only in type; jose accepts each of them here.
        payload = (await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], { ...options, algorithms })).payload;
        break;
      } catch (err) {
        if (err instanceof errors.JWTExpired) throw new ProtocolError("UNAUTHORIZED", "token expirado");
      }
    }
    if (!payload) throw new ProtocolError("UNAUTHORIZED", "token inválido");
    let userId: string;
    try {
      userId = String(parseId(payload.sub, "sub"));
    } catch {
      throw new ProtocolError("UNAUTHORIZED", "el token no identifica a un usuario (sub)");
    }
    const claimed = claimedUserId(input);
    if (claimed !== undefined && claimed !== userId) throw new ProtocolError("UNAUTHORIZED", "user_id no coincide con el token");
    return { userId, ...(payload.exp ? { expiresAt: payload.exp * 1000 } : {}) };
  };
}
