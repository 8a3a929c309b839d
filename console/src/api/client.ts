/**
 * The typed client of the mall's HTTP API, generated types from docs/openapi.json (schema.d.ts)
 * over an injectable transport: `fetchTransport` in the console, `wxTransport` in the mini-program.
 *
 *   const api = createClient({ baseUrl, transport: fetchTransport(), token: () => session.token });
 *   const page = await api.get("/admin/withdrawals", { query: { status: "PENDING_REVIEW" } });
 *
 * Paths, parameters, bodies and answers are checked against the contract at compile time: a
 * contract change that breaks a caller fails its type-check. A non-2xx answer throws `ApiError`
 * carrying the API's error body (`code`, `message`, `fields`).
 */
import type { components, paths } from "./schema";

export type HttpMethod = "get" | "post" | "put" | "delete" | "patch";

/** What a transport is asked to send: an absolute URL, text headers, a JSON text body. */
export interface TransportRequest {
  method: Uppercase<HttpMethod>;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** What a transport hands back: the status, lower-cased header names, the body as text. */
export interface TransportResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Transport = (request: TransportRequest) => Promise<TransportResponse>;

export type ErrorBody = components["schemas"]["ErrorBody"];

/** The API refused the request (4xx) or failed (5xx); `body` is its error document when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: { field: string; reason: string }[];
  readonly details: Record<string, unknown>;
  readonly retryAfterSeconds?: number;

  constructor(status: number, body: ErrorBody | undefined, headers: Record<string, string>) {
    const error = body?.error;
    super(error?.message ?? `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = error?.code ?? "http_error";
    this.fields = (error?.fields ?? []).map((f) => ({ field: String(f.field), reason: String(f.reason) }));
    this.details = (error?.details ?? {}) as Record<string, unknown>;
    const retry = Number(headers["retry-after"]);
    if (Number.isFinite(retry) && retry > 0) this.retryAfterSeconds = retry;
  }
}

type Operation<P extends keyof paths, M extends HttpMethod> = NonNullable<paths[P][M]>;

/** The paths that have an operation for method `M`. */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: paths[P][M] extends undefined | never ? never : P;
}[keyof paths];

type Parameters<O> = O extends { parameters: infer Params } ? Params : never;
type Section<O, K extends string> = K extends keyof Parameters<O> ? NonNullable<Parameters<O>[K]> : never;
type NeedsSection<O, K extends string> = K extends keyof Parameters<O>
  ? undefined extends Parameters<O>[K] ? false : [Parameters<O>[K]] extends [never] ? false : true
  : false;

type JsonBody<O> = O extends { requestBody: { content: { "application/json": infer B } } }
  ? { body: B }
  : O extends { requestBody?: { content: { "application/json": infer B } } } ? { body?: B } : { body?: never };

type Part<O, K extends string> = [Section<O, K>] extends [never]
  ? { [key in K]?: never }
  : NeedsSection<O, K> extends true ? { [key in K]: Section<O, K> } : { [key in K]?: Section<O, K> };

/** What a call takes: `path`, `query` and `header` parameters and the JSON `body`, each as the contract says. */
export type RequestOptions<O> = Part<O, "path"> & Part<O, "query"> & Part<O, "header"> & JsonBody<O>;

type SuccessCodes = 200 | 201 | 202 | 204;
/** The body of a success answer (undefined for 204). */
export type SuccessBody<O> = O extends { responses: infer R }
  ? {
      [S in keyof R & SuccessCodes]: S extends 204
        ? undefined
        : R[S] extends { content: { "application/json": infer J } } ? J
        : R[S] extends { content: { "text/csv": infer T } } ? T : undefined;
    }[keyof R & SuccessCodes]
  : never;

type Call<M extends HttpMethod> = <P extends PathsWith<M>>(
  path: P,
  ...options: {} extends RequestOptions<Operation<P, M>>
    ? [options?: RequestOptions<Operation<P, M>>]
    : [options: RequestOptions<Operation<P, M>>]
) => Promise<SuccessBody<Operation<P, M>>>;

export interface ApiClient {
  get: Call<"get">;
  post: Call<"post">;
  put: Call<"put">;
  delete: Call<"delete">;
  patch: Call<"patch">;
}

export interface ClientOptions {
  /** The API's base URL, e.g. `https://api.example.com` or `/api` behind the console's proxy. */
  baseUrl: string;
  transport: Transport;
  /** The bearer token for secured operations, read at each call (login and logout change it). */
  token?: () => string | undefined | null;
  /** Called with every refused or failed answer before it is thrown (e.g. a 401 ends the session). */
  onError?: (error: ApiError) => void;
}

function expand(template: string, path: Record<string, unknown> | undefined): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = path?.[name];
    if (value === undefined || value === null) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(value));
  });
}

function queryString(query: Record<string, unknown> | undefined): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(item))}`);
    }
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

function parse(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function createClient(options: ClientOptions): ApiClient {
  const base = options.baseUrl.replace(/\/+$/, "");

  async function send(method: HttpMethod, template: string, call: Record<string, unknown> = {}): Promise<unknown> {
    const headers: Record<string, string> = { Accept: "application/json" };
    for (const [name, value] of Object.entries((call.header as Record<string, unknown>) ?? {})) {
      if (value !== undefined && value !== null) headers[name] = String(value);
    }
    const token = options.token?.();
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (call.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(call.body);
    }
    const url = base + expand(template, call.path as Record<string, unknown>) + queryString(call.query as Record<string, unknown>);
    const answer = await options.transport({ method: method.toUpperCase() as Uppercase<HttpMethod>, url, headers, body });
    const contentType = answer.headers["content-type"] ?? "";
    const parsed = contentType.includes("json") || !contentType ? parse(answer.body) : answer.body;
    if (answer.status >= 200 && answer.status < 300) return answer.status === 204 ? undefined : parsed;
    const error = new ApiError(answer.status, parsed as ErrorBody | undefined, answer.headers);
    options.onError?.(error);
    throw error;
  }

  const call = (method: HttpMethod) =>
    ((path: string, callOptions?: Record<string, unknown>) => send(method, path, callOptions)) as never;
  return { get: call("get"), post: call("post"), put: call("put"), delete: call("delete"), patch: call("patch") };
}
