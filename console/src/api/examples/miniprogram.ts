/**
 * How the mini-program calls the API (type-checked with WeChat's typings, never shipped here):
 * the same client as the console, over `wx.request`.
 */
import { ApiError, createClient } from "../client";
import { wxTransport } from "../transports/wx";

const api = createClient({
  baseUrl: "https://api.example.com",
  transport: wxTransport(),
  token: () => wx.getStorageSync<string>("token"),
});

export async function bindToPromoter(code: string): Promise<string> {
  try {
    const result = await api.post("/referral/bind", { body: { code } });
    return result.binding?.parent_id ?? "";
  } catch (error) {
    if (error instanceof ApiError && error.code === "already_bound") return "";
    throw error;
  }
}

export async function myOrders(): Promise<number> {
  const page = await api.get("/orders", { query: { limit: 20 } });
  return page.items.length;
}
