import { describe, expect, it } from "vitest";

import { orderedRoles, roleLabels } from "./roles";

describe("staff roles", () => {
  it("shows roles in the table's order, in Chinese", () => {
    expect(roleLabels(["support", "owner"])).toBe("店主、客服");
    expect(roleLabels([])).toBe("—");
    expect(roleLabels(["admin"])).toBe("—");
  });

  it("sends picked roles in the table's order, only staff roles", () => {
    expect(orderedRoles(["auditor", "finance", "nope"])).toEqual(["finance", "auditor"]);
  });
});
