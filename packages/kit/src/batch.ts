import { Code, ConnectError } from "@connectrpc/connect";
import { context, ROOT_CONTEXT, type Context } from "@opentelemetry/api";
import { inBatchSpan, tracingEnabled } from "./tracing.js";

export interface BatcherOptions<I, O> {
  /**
   * Runs one batch and answers one outcome per item, in item order; an Error outcome fails
   * only its item. A throw (or a wrong number of outcomes) fails the whole batch.
   */
  run(items: I[]): Promise<(O | Error)[]>;
  /** The most items one batch takes. */
  maxBatch: number;
  /** Batches running at once; while all are busy, new items wait and form the next batch. */
  maxInFlight: number;
  /** Called with each batch's size (for a histogram). */
  onBatch?: (size: number) => void;
  /** Names the batch's span when tracing is on (e.g. "send"). */
  name?: string;
  /**
   * The most items that may wait for a batch (not counting those in flight). Past it an item
   * is refused at once with `overloaded()` instead of queueing: load beyond what the batches
   * can carry is shed early, so memory and waiting stay bounded. Unbounded when unset.
   */
  maxQueued?: number;
  /**
   * The longest an item may wait for its batch. An item older than this when its batch is
   * formed is refused with `overloaded()` instead of sent: under overload it would only run
   * into its caller's deadline, after taking a place in the batch. Unbounded when unset.
   */
  maxWaitMs?: number;
  /** The refusal of an item when the queue is full or it waited too long (default: ResourceExhausted). */
  overloaded?: () => Error;
  /** Called for each item refused because the queue was full (for a metric). */
  onShed?: () => void;
}

/** The error an item gets when a batcher's queue is full: ResourceExhausted, retry later. */
export const queueFull = (what: string) =>
  new ConnectError(`${what} is overloaded: too much work is waiting; retry in a few seconds`, Code.ResourceExhausted);

interface Pending<I, O> {
  item: I;
  /** When it was queued (performance.now()), for maxWaitMs. */
  queuedAt: number;
  /** The caller's trace, when tracing is on. */
  trace: Context | undefined;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: items are gathered while earlier batches run and sent together when a slot
 * frees. An idle batcher sends on the next turn of the event loop (everything that arrived
 * in the same I/O phase goes together), so light load adds no timer delay, and batches grow
 * by themselves as load grows. DataLoader batches per tick but cannot bound the batches in
 * flight, and that bound is what makes batches grow, so this is kept here.
 */
export function createBatcher<I, O>(options: BatcherOptions<I, O>): (item: I) => Promise<O> {
  const { run, maxBatch, maxInFlight } = options;
  if (maxBatch < 1 || maxInFlight < 1) throw new Error("maxBatch and maxInFlight must be at least 1");
  let queue: Pending<I, O>[] = [];
  let inFlight = 0;
  let scheduled = false;

  const settle = (batch: Pending<I, O>[], outcomes: (O | Error)[]) => {
    if (outcomes.length !== batch.length) {
      const err = new Error(`a batch of ${batch.length} answered ${outcomes.length} outcomes`);
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if (outcome instanceof Error) p.reject(outcome);
      else p.resolve(outcome);
    });
  };

  const start = (batch: Pending<I, O>[]) => {
    inFlight++;
    options.onBatch?.(batch.length);
    let running: Promise<(O | Error)[]>;
    try {
      const items = batch.map((p) => p.item);
      running = tracingEnabled()
        ? inBatchSpan(`batch ${options.name ?? "run"}`, batch.map((p) => p.trace ?? ROOT_CONTEXT), () => run(items))
        : run(items);
    } catch (err) {
      running = Promise.reject(err);
    }
    running
      .then(
        (outcomes) => settle(batch, outcomes),
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      )
      .finally(() => {
        inFlight--;
        kick();
      });
  };

  const refuse = options.overloaded ?? (() => queueFull(options.name ?? "this service"));

  /** Refuses the items that waited longer than maxWaitMs (the oldest are at the front). */
  const dropStale = () => {
    if (options.maxWaitMs === undefined) return;
    const oldest = performance.now() - options.maxWaitMs;
    let stale = 0;
    while (stale < queue.length && queue[stale]!.queuedAt < oldest) stale++;
    if (stale === 0) return;
    for (const p of queue.slice(0, stale)) {
      options.onShed?.();
      p.reject(refuse());
    }
    queue = queue.slice(stale);
  };

  const flush = () => {
    scheduled = false;
    dropStale();
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      start(batch);
    }
  };

  const kick = () => {
    if (scheduled || inFlight >= maxInFlight || queue.length === 0) return;
    scheduled = true;
    setImmediate(flush);
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      if (options.maxQueued !== undefined && queue.length >= options.maxQueued) {
        options.onShed?.();
        reject(refuse());
        return;
      }
      queue.push({ item, queuedAt: performance.now(), trace: tracingEnabled() ? context.active() : undefined, resolve, reject });
      kick();
    });
}
