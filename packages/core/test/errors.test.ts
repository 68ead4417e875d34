import { describe, expect, it } from "vitest";

import { ContextOverflowError, CorruptFileError, ElitekvError, InvalidArgumentError, isElitekvError } from "../src/index.js";

describe("typed errors", () => {
  it("name the file and field in the message", () => {
    const error = new CorruptFileError("offset 40 is past the end of the file (32 bytes)", {
      file: "model.gguf",
      field: "tensor blk.0.attn_q.weight",
    });
    expect(error.code).toBe("corrupt-file");
    expect(error.message).toContain("model.gguf");
    expect(error.message).toContain("blk.0.attn_q.weight");
    expect(error.name).toBe("CorruptFileError");
    expect(isElitekvError(error)).toBe(true);
    expect(error).toBeInstanceOf(ElitekvError);
  });

  it("mark usage errors", () => {
    expect(new InvalidArgumentError("bad window").isUsageError).toBe(true);
    expect(new ContextOverflowError(600, 512).isUsageError).toBe(false);
  });

  it("carry both sizes on context overflow", () => {
    const error = new ContextOverflowError(600, 512);
    expect(error.requested).toBe(600);
    expect(error.capacity).toBe(512);
    expect(error.message).toContain("600");
    expect(error.message).toContain("512");
  });
});
