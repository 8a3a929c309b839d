/** The console's one API client: the base URL from config.json, the token from the session. */
import { ApiError, createClient, type ApiClient } from "./client";
import { fetchTransport } from "./transports/fetch";

export { ApiError };

let client: ApiClient | null = null;
let tokenSource: () => string | null = () => null;
let onUnauthenticated: () => void = () => {};

/** Read once at start-up: where the API is (the same origin locally, the API's URL in AWS). */
export async function loadConfig(): Promise<{ apiBaseUrl: string }> {
  const response = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: "no-store" });
  const config = response.ok ? ((await response.json()) as { apiBaseUrl?: string }) : {};
  return { apiBaseUrl: config.apiBaseUrl ?? "" };
}

export function configureApi(options: {
  baseUrl: string;
  token: () => string | null;
  onUnauthenticated: () => void;
}): void {
  tokenSource = options.token;
  onUnauthenticated = options.onUnauthenticated;
  client = createClient({
    baseUrl: options.baseUrl,
    transport: fetchTransport(),
    token: () => tokenSource(),
    onError: (error) => {
      if (error.status === 401) onUnauthenticated();
    },
  });
}

export function api(): ApiClient {
  if (client === null) throw new Error("the API client is not configured yet");
  return client;
}
