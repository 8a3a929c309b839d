/**
 * The mini-program's transport: `wx.request`, type-checked against WeChat's own typings
 * (miniprogram-api-typings). The body is asked for as text (`dataType: "其他"`) so that the client
 * parses answers and errors the same way on every transport.
 */
import type { Transport } from "../client";

export class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransportError";
  }
}

export function wxTransport(options: { timeoutMs?: number } = {}): Transport {
  return (request) =>
    new Promise((resolve, reject) => {
      wx.request({
        url: request.url,
        method: request.method as WechatMiniprogram.RequestOption["method"],
        header: request.headers,
        data: request.body,
        dataType: "其他",
        responseType: "text",
        timeout: options.timeoutMs ?? 15000,
        success: (result) => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(result.header ?? {})) headers[name.toLowerCase()] = String(value);
          const body = typeof result.data === "string" ? result.data : JSON.stringify(result.data ?? "");
          resolve({ status: result.statusCode, headers, body });
        },
        fail: (failure) => reject(new TransportError(failure.errMsg)),
      });
    });
}
