/** A task run off its callers' path: see {@link coalescedTask}. */
export interface CoalescedTask {
  /** Asks for one more run; returns at once. */
  request(): void;
  /** Throws the first failure of a run, if any. */
  throwIfFailed(): void;
  /** Resolves once no run is going on or asked for; throws the first failure of a run. */
  flush(): Promise<void>;
}

/**
 * Runs `run` in the background whenever asked, one run at a time and in order: requests made while
 * a run is going on merge into one next run, which reads the latest state when it starts (so the
 * last run always sees everything asked for before it). After a run fails, no more runs start;
 * `flush()` and `throwIfFailed()` report that failure. Never runs `run` on the caller's stack.
 */
export function coalescedTask(run: () => Promise<void>): CoalescedTask {
  let isRequested = false;
  let running: Promise<void> | undefined;
  let failure: { error: unknown } | undefined;
  const drain = async (): Promise<void> => {
    // Started from request(): after the event loop's current turn, so that the requests of this
    // turn merge into it and the caller's next LLM call leaves before the save's writes.
    await new Promise((resolve) => setImmediate(resolve));
    while (isRequested && !failure) {
      isRequested = false;
      try {
        await run();
      } catch (error) {
        failure = { error };
      }
    }
    // In the same tick as the last check: a request from now on starts a new drain.
    running = undefined;
  };
  return {
    request() {
      isRequested = true;
      running ??= drain();
    },
    throwIfFailed() {
      if (failure) throw failure.error;
    },
    async flush() {
      while (running) await running;
      if (failure) throw failure.error;
    },
  };
}
