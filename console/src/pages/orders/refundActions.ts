/** Approving and rejecting a refund, shared by the refunds queue and the order detail. */
import { ElMessage, ElMessageBox } from "element-plus";
import "element-plus/es/components/message/style/css";
import "element-plus/es/components/message-box/style/css";

import { api } from "../../api";
import type { components } from "../../api/schema";
import { showError } from "../../lib/errors";
import { formatFen } from "../../lib/money";

type Refund = components["schemas"]["RefundView"];

/** The refund after approval, or null when cancelled or refused (the API's message is shown). */
export async function approveRefund(refund: Refund): Promise<Refund | null> {
  try {
    await ElMessageBox.confirm(`同意退款 ${formatFen(refund.amount_fen)}？款项将通过微信支付原路退回。`, "同意退款", {
      type: "warning", confirmButtonText: "同意退款", cancelButtonText: "取消",
    });
  } catch {
    return null; // cancelled
  }
  try {
    const result = await api().post("/admin/refunds/{refund_id}/approve", { path: { refund_id: refund.refund_id } });
    if (result.status === "CLOSED") {
      ElMessage.error(`微信支付拒绝了退款：${result.failure_message ?? result.failure_code ?? "未知原因"}`);
    } else {
      ElMessage.success("已同意，退款处理中");
    }
    return result;
  } catch (error) {
    showError(error);
    return null;
  }
}

export async function rejectRefund(refund: Refund): Promise<Refund | null> {
  let reason: string;
  try {
    const answer = await ElMessageBox.prompt("驳回原因（买家可见）", "驳回退款", {
      inputValidator: (value) => (value && value.trim().length > 0) || "请填写原因",
      confirmButtonText: "驳回",
      cancelButtonText: "取消",
    });
    reason = (answer as { value: string }).value.trim();
  } catch {
    return null; // cancelled
  }
  try {
    const result = await api().post("/admin/refunds/{refund_id}/reject", {
      path: { refund_id: refund.refund_id },
      body: { reason },
    });
    ElMessage.success("已驳回退款");
    return result;
  } catch (error) {
    showError(error);
    return null;
  }
}
