import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
} from "@redup/proto/grpc/health/v1/health_pb";
import { notFound } from "./errors.js";

/** Decides whether the server can take calls now, e.g. by pinging its database. */
export type ReadinessCheck = () => Promise<boolean>;

export interface HealthState {
  /** Set once shutdown begins, so load balancers stop routing here first. */
  shuttingDown: boolean;
  /** Wakes open Watch streams (on shutdown), so they report NOT_SERVING and end at once. */
  readonly watchers: Set<() => void>;
}

const WATCH_INTERVAL_MS = 2000;

/**
 * grpc.health.v1.Health. The server as a whole ("") and each named service share one
 * readiness check: every service here is one Connect service on its own port.
 */
export function registerHealth(
  router: ConnectRouter,
  serviceNames: string[],
  check: ReadinessCheck,
  state: HealthState,
): void {
  const known = new Set(["", ...serviceNames]);
  const status = async (): Promise<Status> =>
    !state.shuttingDown && (await check()) ? Status.SERVING : Status.NOT_SERVING;

  const impl: ServiceImpl<typeof Health> = {
    async check(req) {
      if (!known.has(req.service)) throw notFound(`unknown service ${JSON.stringify(req.service)}`);
      return create(HealthCheckResponseSchema, { status: await status() });
    },
    async *watch(req, ctx) {
      if (!known.has(req.service)) {
        yield create(HealthCheckResponseSchema, { status: Status.SERVICE_UNKNOWN });
        return;
      }
      let last: Status | undefined;
      let wake: (() => void) | undefined;
      const onAbort = () => wake?.();
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      try {
        while (!ctx.signal.aborted) {
          const now = await status();
          if (now !== last) {
            last = now;
            yield create(HealthCheckResponseSchema, { status: now });
          }
          // Shutdown ends the stream once NOT_SERVING was sent, so it does not hold the server open.
          if (state.shuttingDown) return;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, WATCH_INTERVAL_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
            state.watchers.add(wake);
          });
          if (wake) state.watchers.delete(wake);
        }
      } finally {
        if (wake) state.watchers.delete(wake);
        ctx.signal.removeEventListener("abort", onAbort);
      }
    },
  };
  router.service(Health, impl);
}
