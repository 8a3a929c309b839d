import { afterEach, describe, expect, it, vi } from "vitest";

import { formatBytes, inFlight, saveText, withBom, withdrawalsCsvName } from "./files";

describe("withBom", () => {
  it("adds the byte-order mark once", () => {
    expect(withBom("a,b\n")).toBe("\uFEFFa,b\n");
    expect(withBom("\uFEFFa,b\n")).toBe("\uFEFFa,b\n");
  });
});

describe("withdrawalsCsvName", () => {
  it("names the filters", () => {
    expect(withdrawalsCsvName({ days: ["2024-05-01", "2024-05-31"] }, "待审核", "2024-06-02"))
      .toBe("提现记录_待审核_2024-05-01至2024-05-31.csv");
    expect(withdrawalsCsvName({ promoterId: "u_1" }, undefined, "2024-06-02")).toBe("提现记录_u_1_2024-06-02.csv");
  });
  it("keeps characters a file system refuses out", () => {
    expect(withdrawalsCsvName({ promoterId: "wx:a/b" }, undefined, "2024-06-02")).toBe("提现记录_wx-a-b_2024-06-02.csv");
  });
});

describe("inFlight", () => {
  it("is true until the worker finishes", () => {
    expect(["QUEUED", "RUNNING", "DONE", "FAILED"].map(inFlight)).toEqual([true, true, false, false]);
  });
});

describe("formatBytes", () => {
  it("reads as people do", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MB");
    expect(formatBytes(undefined)).toBe("—");
  });
});

describe("saveText", () => {
  afterEach(() => vi.restoreAllMocks());

  it("clicks a download link to a Blob of the text", async () => {
    const blobs: Blob[] = [];
    vi.spyOn(URL, "createObjectURL").mockImplementation((blob) => {
      blobs.push(blob as Blob);
      return "blob:test";
    });
    const revoke = vi.spyOn(URL, "revokeObjectURL").mockImplementation(() => {});
    const clicked: { href: string; download: string }[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push({ href: this.href, download: this.download });
    });
    saveText("id\n1\n", "x.csv");
    expect(clicked).toEqual([{ href: "blob:test", download: "x.csv" }]);
    expect(await blobs[0].text()).toBe("id\n1\n");
    expect(blobs[0].type).toBe("text/csv;charset=utf-8");
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(revoke).toHaveBeenCalledWith("blob:test");
    expect(document.querySelectorAll("a").length).toBe(0);
  });
});
