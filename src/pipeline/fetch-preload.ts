/**
 * Loads Node's fetch (undici), which the LLM client's SDK calls through: Node compiles it on
 * first use, ~20-40 ms that would otherwise hold the event loop when a job makes its first call
 * (in ROLE=all, a /healthcheck answered that much later). Builds a request and a response, sends
 * nothing. No import: its spec runs this file in a fresh process.
 */
export function preloadFetch(): void {
  new Request('http://127.0.0.1/', {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  new Response('{}');
}
