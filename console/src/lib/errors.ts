/** How a refused request is shown: the API's message, and each field's reason beside its input. */
import { ElMessage } from "element-plus";
import "element-plus/es/components/message/style/css";

import { ApiError } from "../api/client";

/** Field name → reason, for `<el-form-item :error="fieldErrors.x">`. */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError)) return {};
  const found: Record<string, string> = {};
  for (const { field, reason } of error.fields) {
    // "body.rates.l1_bps" and "rates.l1_bps" both name the same input.
    found[field.replace(/^body\./, "")] = reason;
  }
  return found;
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429 && error.retryAfterSeconds) {
      return `${error.message}（请 ${error.retryAfterSeconds} 秒后再试）`;
    }
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function showError(error: unknown): void {
  ElMessage({ type: "error", message: describeError(error), showClose: true, duration: 6000 });
}

/** Runs ``work`` and shows its refusal, if any (a list's reload, a page turn). */
export async function showingErrors(work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    showError(error);
  }
}
