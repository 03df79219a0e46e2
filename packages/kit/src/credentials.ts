import { timingSafeEqual } from "node:crypto";
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { permissionDenied } from "./errors.js";
import { MAX_BIGINT } from "./validate.js";

/** The header carrying the service credential: `authorization: Bearer <SERVICE_TOKEN>`. */
const AUTHORIZATION = "authorization";
/** The header the edge sets to the authenticated end user a call is made for. */
export const ACTING_USER_HEADER = "x-redup-user-id";

/** The end user a call acts for, when the caller says so; services then enforce ownership. */
export const actingUserKey = createContextKey<bigint | undefined>(undefined, { description: "acting end user" });

const UNPROTECTED = new Set(["grpc.health.v1.Health"]);

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Server side: every RPC but the health service needs the bearer service token (when one is
 * configured), so nobody on the cluster network can call as another service; and an
 * `x-redup-user-id` header is parsed into the call's context as the acting user.
 */
export function serviceAuthInterceptor(token: string | undefined): Interceptor {
  return (next) => async (req) => {
    if (token !== undefined && !UNPROTECTED.has(req.service.typeName)) {
      const header = req.header.get(AUTHORIZATION) ?? "";
      const given = header.startsWith("Bearer ") ? header.slice(7) : "";
      if (given === "" || !sameSecret(given, token)) throw new ConnectError("a valid service credential is required", Code.Unauthenticated);
    }
    const acting = req.header.get(ACTING_USER_HEADER);
    if (acting !== null) {
      if (!/^[1-9][0-9]{0,18}$/.test(acting) || BigInt(acting) > MAX_BIGINT)
        throw new ConnectError(`${ACTING_USER_HEADER} must be a positive integer`, Code.InvalidArgument);
      req.contextValues.set(actingUserKey, BigInt(acting));
    }
    return next(req);
  };
}

/** Client side: sends the service token on every call. */
export function serviceTokenInterceptor(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set(AUTHORIZATION, `Bearer ${token}`);
    return next(req);
  };
}

/** Call options that make a call on behalf of an end user (the edge's authenticated user). */
export const onBehalfOf = (userId: bigint | string) => ({ headers: { [ACTING_USER_HEADER]: String(userId) } });

/** The acting user of a call, if the caller named one. */
export const actingUser = (ctx: HandlerContext): bigint | undefined => ctx.values.get(actingUserKey);

/** Refuses a call made on behalf of someone other than `userId` (the request's own user field). */
export function assertActingAs(ctx: HandlerContext, userId: bigint, what: string): void {
  const acting = actingUser(ctx);
  if (acting !== undefined && acting !== userId) throw permissionDenied(`user ${acting} may not ${what} for user ${userId}`);
}
