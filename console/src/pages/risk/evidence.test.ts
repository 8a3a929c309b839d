import { describe, expect, it } from "vitest";
import { evidenceRows } from "./evidence";

describe("evidenceRows", () => {
  it("labels the scan's keys and formats money, rates and times", () => {
    const rows = evidenceRows({
      day_fen: 123456,
      ratio_bp: 2500,
      multiple_bp: 30000,
      first_bound_at: "2026-11-30T16:30:00Z",
      kind: "device",
    });
    expect(rows).toEqual([
      { key: "day_fen", label: "当日佣金", lines: ["¥1,234.56"] },
      { key: "ratio_bp", label: "退款率", lines: ["25%"] },
      { key: "multiple_bp", label: "倍数阈值", lines: ["3 倍"] },
      { key: "first_bound_at", label: "首次绑定", lines: ["2026-12-01 00:30:00"] },
      { key: "kind", label: "类型", lines: ["设备"] },
    ]);
  });

  it("puts a list of records one per line and spreads nested thresholds", () => {
    const rows = evidenceRows({
      orders: [{ order_id: "o1", level: 1, matched: ["device", "phone"] }],
      accounts: ["u1", "u2"],
      thresholds: { bindings: 5, withdrawal_window_hours: 48 },
      custom_key: "x",
    });
    expect(rows).toEqual([
      { key: "orders", label: "订单", lines: ["订单号 o1 · 层级 1 · 匹配项 设备、手机号"] },
      { key: "accounts", label: "关联账号", lines: ["u1、u2"] },
      { key: "thresholds.bindings", label: "阈值 · 新绑定数", lines: ["5"] },
      { key: "thresholds.withdrawal_window_hours", label: "阈值 · 提现时间窗（小时）", lines: ["48"] },
      { key: "custom_key", label: "custom_key", lines: ["x"] },
    ]);
  });

  it("is empty for no evidence", () => {
    expect(evidenceRows(undefined)).toEqual([]);
  });
});
