// The memory roofline of decode: a step must stream its bytes from memory at least once, so tokens/s
// can be at most bandwidth / bytes read per token. The measured fraction of that bound shows how close a
// backend comes to being memory bound.
import { InvalidArgumentError } from "@elitekv/core";

export interface RooflineEstimate {
  /** Bytes one decode step reads. */
  bytesPerToken: number;
  /** Bandwidth the bound assumes, bytes per second. */
  bandwidthBytesPerSecond: number;
  /** bandwidthBytesPerSecond / bytesPerToken. */
  boundTokensPerSecond: number;
  measuredTokensPerSecond: number;
  /** measuredTokensPerSecond / boundTokensPerSecond. */
  fractionOfBound: number;
}

/** Returns the roofline bound bandwidth / bytes per token, in tokens per second. */
export function rooflineTokensPerSecond(bandwidthBytesPerSecond: number, bytesPerToken: number): number {
  if (!(bandwidthBytesPerSecond > 0) || !Number.isFinite(bandwidthBytesPerSecond)) {
    throw new InvalidArgumentError(`bandwidth must be a positive number of bytes per second, got ${bandwidthBytesPerSecond}`, {
      field: "bandwidthBytesPerSecond",
    });
  }
  if (!(bytesPerToken > 0) || !Number.isFinite(bytesPerToken)) {
    throw new InvalidArgumentError(`bytes per token must be a positive number, got ${bytesPerToken}`, { field: "bytesPerToken" });
  }
  return bandwidthBytesPerSecond / bytesPerToken;
}

/** Returns the bound for `bytesPerToken` and the fraction of it that `measuredTokensPerSecond` reaches. */
export function rooflineEstimate(bandwidthBytesPerSecond: number, bytesPerToken: number, measuredTokensPerSecond: number): RooflineEstimate {
  const boundTokensPerSecond = rooflineTokensPerSecond(bandwidthBytesPerSecond, bytesPerToken);
  return {
    bytesPerToken,
    bandwidthBytesPerSecond,
    boundTokensPerSecond,
    measuredTokensPerSecond,
    fractionOfBound: measuredTokensPerSecond / boundTokensPerSecond,
  };
}
