import { context } from "@opentelemetry/api";
import type { BusSubscription, EventBus } from "./bus.js";

/** True when a NATS-style pattern (`*` one token, `>` the rest) matches a subject. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/**
 * The event bus of the embedded, single-process mode: the EventBus interface of NATS,
 * delivered in-process. It reaches only subscribers in this process — a second edge
 * process would not see these events, so multi-process deployments use NATS.
 * Delivery is asynchronous and in publish order, as from one NATS connection.
 */
export function createLocalBus(): EventBus {
  const subscriptions = new Map<object, { pattern: string; handler: (payload: Uint8Array, subject: string) => void }>();
  let closed = false;
  let queue: Promise<void> = Promise.resolve();

  return {
    get connected() {
      return !closed;
    },
    publish(subject, payload) {
      if (closed) return Promise.reject(new Error("the in-process event bus is closed"));
      // The publisher's trace continues in the handlers, as over NATS headers.
      const active = context.active();
      for (const one of Array.isArray(subject) ? subject : [subject]) {
        const targets = [...subscriptions.values()].filter((s) => subjectMatches(s.pattern, one));
        queue = queue.then(() => {
          for (const target of targets) {
            try {
              context.with(active, () => target.handler(payload, one));
            } catch {
              // A subscriber's failure is its own; the others still get the event.
            }
          }
        });
      }
      return queue;
    },
    publishAll(events) {
      let last: Promise<void> = Promise.resolve();
      for (const { subject, payload } of events) last = this.publish(subject, payload);
      return last;
    },
    subscribe(pattern, handler): BusSubscription {
      const key = {};
      subscriptions.set(key, { pattern, handler });
      return { unsubscribe: () => void subscriptions.delete(key) };
    },
    async close() {
      closed = true;
      await queue;
      subscriptions.clear();
    },
  };
}
