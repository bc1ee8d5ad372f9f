// Parameter count and a training-memory estimate of heartseg's 3D U-Net, from its widths alone. Pure.

export interface UNetShape {
  features: number[];
  inChannels: number;
  outChannels: number;
}

function checkShape({features, inChannels, outChannels}: UNetShape): void {
  if (features.length < 1 || !features.every((f) => Number.isInteger(f) && f >= 1)) {
    throw new RangeError(`features must be positive integers, got [${features.join(', ')}]`);
  }
  if (!Number.isInteger(inChannels) || inChannels < 1) throw new RangeError(`inChannels must be >= 1, got ${inChannels}`);
  if (!Number.isInteger(outChannels) || outChannels < 1) throw new RangeError(`outChannels must be >= 1, got ${outChannels}`);
}

/** (Conv3d 3x3x3 with bias + BatchNorm3d) twice: weights, biases, and BN's weight and bias. */
function doubleConv(inCh: number, outCh: number): number {
  return 27 * inCh * outCh + outCh + 2 * outCh + 27 * outCh * outCh + outCh + 2 * outCh;
}

/** Trainable parameters: encoder double convs, a bottleneck of twice the last width, transposed-conv ups,
 * decoder double convs over concatenated skips, and a 1x1x1 head. */
export function unetParameters(shape: UNetShape): number {
  checkShape(shape);
  const {features, inChannels, outChannels} = shape;
  let total = 0;
  let channels = inChannels;
  for (const f of features) {
    total += doubleConv(channels, f);
    channels = f;
  }
  const bottleneck = 2 * channels;
  total += doubleConv(channels, bottleneck);
  channels = bottleneck;
  for (const f of [...features].reverse()) {
    total += 8 * channels * f + f; // ConvTranspose3d kernel 2, stride 2
    total += doubleConv(2 * f, f);
    channels = f;
  }
  return total + features[0] * outChannels + outChannels;
}

export interface MemoryEstimate {
  /** Bytes of feature maps kept for the backward pass (fp32). */
  activationBytes: number;
  /** Bytes of weights, gradients and the two Adam moments (fp32). */
  parameterBytes: number;
  totalBytes: number;
}

/** A rough fp32 training-memory estimate for one step on `batch` patches of `patch` = [z, y, x] voxels.
 * Counts the tensors autograd keeps: four per double conv (two conv outputs, two BN/ReLU outputs), the pooled
 * maps, the up-convolution outputs and concatenations; framework workspace is not included. */
export function trainingMemory(shape: UNetShape, patch: number[], batch: number): MemoryEstimate {
  checkShape(shape);
  if (patch.length !== 3 || !patch.every((p) => Number.isInteger(p) && p >= 1)) {
    throw new RangeError(`patch must be three positive integers, got [${patch.join(', ')}]`);
  }
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be >= 1, got ${batch}`);
  const {features, inChannels, outChannels} = shape;
  let dims = [...patch];
  const voxelsAt: number[] = [];
  for (let level = 0; level <= features.length; level++) {
    voxelsAt.push(dims[0] * dims[1] * dims[2]);
    dims = dims.map((d) => Math.max(1, Math.floor(d / 2)));
  }
  let elements = inChannels * voxelsAt[0];
  features.forEach((f, level) => {
    elements += 4 * f * voxelsAt[level]; // encoder double conv
    elements += f * voxelsAt[level + 1]; // max-pool output
  });
  const deepest = features.length;
  elements += 4 * 2 * features[deepest - 1] * voxelsAt[deepest]; // bottleneck
  features.forEach((f, level) => {
    elements += (1 + 2 + 4) * f * voxelsAt[level]; // up-conv output, concatenation, decoder double conv
  });
  elements += outChannels * voxelsAt[0];
  const activationBytes = elements * batch * 4;
  const parameterBytes = unetParameters(shape) * 4 * 4;
  return {activationBytes, parameterBytes, totalBytes: activationBytes + parameterBytes};
}
