// Data-movement and shape ops: Concat, Split, Slice, Pad, Gather, Transpose
// (they run a copy kernel) and Reshape, Flatten, Squeeze, Unsqueeze (pure
// metadata: no kernel, no bytes). None does arithmetic, so FLOPs are 0.
//
// Shape-like operands (Reshape shape, Split sizes, Slice starts/ends/axes/
// steps, Pad pads/axes, Squeeze/Unsqueeze axes) must be constant integer
// inputs; opset < 13 attribute forms are accepted as well.
#include <algorithm>
#include <limits>

#include "engine/op_registry.h"

namespace xflow {
namespace {

constexpr int32_t kManyInputs = 1 << 20;

double NoBytes(const OpContext&, const std::vector<TensorType>&) { return 0; }

// Reads only what it copies: every output element is read once, written once.
double CopyBytes(const OpContext&, const std::vector<TensorType>& outputs) {
  double bytes = 0;
  for (const TensorType& output : outputs) bytes += 2 * static_cast<double>(output.NumBytes());
  return bytes;
}

std::vector<TensorType> InferConcat(const OpContext& context) {
  if (!context.HasParam("axis")) context.Fail("parameter 'axis' is required");
  const TensorType& first = context.Input(0);
  const auto rank = static_cast<int64_t>(first.shape.size());
  const int64_t axis = context.Axis(context.Int("axis", 0), rank, "axis");
  Shape output = first.shape;
  output[static_cast<size_t>(axis)] = 0;
  for (int32_t i = 0; i < context.NumInputs(); ++i) {
    const TensorType& input = context.Input(i);
    bool compatible = input.shape.size() == first.shape.size() && input.dtype == first.dtype;
    for (size_t d = 0; compatible && d < input.shape.size(); ++d) {
      compatible = static_cast<int64_t>(d) == axis || input.shape[d] == first.shape[d];
    }
    if (!compatible) {
      context.Fail("input " + std::to_string(i) + " " + TensorTypeToString(input) + " does not match input 0 " +
                   TensorTypeToString(first) + " outside axis " + std::to_string(axis));
    }
    output[static_cast<size_t>(axis)] += input.shape[static_cast<size_t>(axis)];
  }
  return {TensorType{first.dtype, output}};
}

std::vector<TensorType> InferSplit(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const int64_t axis = context.Axis(context.Int("axis", 0), static_cast<int64_t>(data.shape.size()), "axis");
  const int64_t dim = data.shape[static_cast<size_t>(axis)];
  const int32_t count = context.NumOutputs();
  IntList sizes;
  if (context.HasInput(1)) {
    sizes = context.IntValues(1, "split");
  } else if (context.HasParam("split")) {
    sizes = context.Ints("split", {});
  } else if (context.HasParam("num_outputs")) {
    const int64_t parts = context.Int("num_outputs", 0);
    if (parts != count) {
      context.Fail("num_outputs " + std::to_string(parts) + " differs from the op's " + std::to_string(count) + " outputs");
    }
    // Opset 18: chunks of ceil(dim / n), the last one smaller when uneven.
    const int64_t chunk = (dim + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i) sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  } else {
    if (dim % count != 0) {
      context.Fail("axis " + std::to_string(axis) + " of size " + std::to_string(dim) + " does not split evenly into " +
                   std::to_string(count) + " outputs");
    }
    sizes.assign(static_cast<size_t>(count), dim / count);
  }
  int64_t total = 0;
  for (int64_t size : sizes) total += size;
  if (static_cast<int32_t>(sizes.size()) != count || total != dim ||
      std::any_of(sizes.begin(), sizes.end(), [](int64_t size) { return size < 0; })) {
    context.Fail("split sizes " + ShapeToString(sizes) + " must be " + std::to_string(count) +
                 " non-negative sizes summing to " + std::to_string(dim));
  }
  std::vector<TensorType> outputs;
  for (int64_t size : sizes) {
    TensorType output = data;
    output.shape[static_cast<size_t>(axis)] = size;
    outputs.push_back(output);
  }
  return outputs;
}

int64_t Clamp(int64_t value, int64_t low, int64_t high) { return std::max(low, std::min(value, high)); }

std::vector<TensorType> InferSlice(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const auto rank = static_cast<int64_t>(data.shape.size());
  const IntList& starts = context.IntValues(1, "starts");
  const IntList& ends = context.IntValues(2, "ends");
  IntList axes(starts.size());
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  if (context.HasInput(3)) axes = context.IntValues(3, "axes");
  IntList steps(starts.size(), 1);
  if (context.HasInput(4)) steps = context.IntValues(4, "steps");
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    context.Fail("starts " + ShapeToString(starts) + ", ends " + ShapeToString(ends) + ", axes " + ShapeToString(axes) +
                 " and steps " + ShapeToString(steps) + " must have equal lengths");
  }
  Shape output = data.shape;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < starts.size(); ++i) {
    const auto axis = static_cast<size_t>(context.Axis(axes[i], rank, "slice axis"));
    if (seen[axis]) context.Fail("axis " + std::to_string(axis) + " appears twice in axes " + ShapeToString(axes));
    seen[axis] = true;
    const int64_t dim = data.shape[axis];
    const int64_t step = steps[i];
    if (step == 0) context.Fail("steps must be non-zero, got " + ShapeToString(steps));
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t length = 0;
    if (step > 0) {
      start = Clamp(start, 0, dim);
      end = Clamp(end, 0, dim);
      length = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = Clamp(start, 0, dim - 1);
      end = Clamp(end, -1, dim - 1);
      length = start > end ? (start - end - step - 1) / (-step) : 0;
    }
    output[axis] = length;
  }
  return {TensorType{data.dtype, output}};
}

std::vector<TensorType> InferPad(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const auto rank = static_cast<int64_t>(data.shape.size());
  const IntList pads = context.HasInput(1) ? context.IntValues(1, "pads") : context.Ints("pads", {});
  IntList axes;
  if (context.HasInput(3)) {
    for (int64_t axis : context.IntValues(3, "axes")) axes.push_back(context.Axis(axis, rank, "pad axis"));
  } else {
    for (int64_t axis = 0; axis < rank; ++axis) axes.push_back(axis);
  }
  if (pads.size() != 2 * axes.size()) {
    context.Fail("pads " + ShapeToString(pads) + " must hold 2 x " + std::to_string(axes.size()) + " values");
  }
  const std::string mode = context.String("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap") {
    context.Fail("mode must be constant, reflect, edge or wrap, got '" + mode + "'");
  }
  Shape output = data.shape;
  for (size_t i = 0; i < axes.size(); ++i) {
    const auto axis = static_cast<size_t>(axes[i]);
    output[axis] += pads[i] + pads[i + axes.size()];
    if (output[axis] < 0) context.Fail("pads " + ShapeToString(pads) + " crop axis " + std::to_string(axis) + " below 0");
  }
  return {TensorType{data.dtype, output}};
}

std::vector<TensorType> InferGather(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const TensorType& indices = context.Input(1);
  if (indices.dtype != DataType::kInt64 && indices.dtype != DataType::kInt32) {
    context.Fail("indices must be int32 or int64, got " + DataTypeName(indices.dtype));
  }
  const auto rank = static_cast<int64_t>(data.shape.size());
  if (rank == 0) context.Fail("data must be at least 1-D");
  const auto axis = static_cast<size_t>(context.Axis(context.Int("axis", 0), rank, "axis"));
  Shape output(data.shape.begin(), data.shape.begin() + static_cast<std::ptrdiff_t>(axis));
  output.insert(output.end(), indices.shape.begin(), indices.shape.end());
  output.insert(output.end(), data.shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, data.shape.end());
  return {TensorType{data.dtype, output}};
}

// An embedding lookup reads the indices and only the gathered rows.
double GatherBytes(const OpContext& context, const std::vector<TensorType>& outputs) {
  return static_cast<double>(context.Input(1).NumBytes()) + 2 * static_cast<double>(outputs[0].NumBytes());
}

std::vector<TensorType> InferTranspose(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const size_t rank = data.shape.size();
  IntList reversed(rank);
  for (size_t i = 0; i < rank; ++i) reversed[i] = static_cast<int64_t>(rank - 1 - i);
  const IntList perm = context.Ints("perm", reversed);
  IntList sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted.size() != rank || sorted[i] != static_cast<int64_t>(i)) {
      context.Fail("perm " + ShapeToString(perm) + " is not a permutation of 0.." + std::to_string(rank - 1));
    }
  }
  if (perm.size() != rank) context.Fail("perm " + ShapeToString(perm) + " must have " + std::to_string(rank) + " values");
  Shape output(rank);
  for (size_t i = 0; i < rank; ++i) output[i] = data.shape[static_cast<size_t>(perm[i])];
  return {TensorType{data.dtype, output}};
}

std::vector<TensorType> InferReshape(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const IntList& requested = context.IntValues(1, "shape");
  const bool allow_zero = context.Int("allowzero", 0) != 0;
  Shape output(requested.size());
  int64_t inferred_axis = -1;
  int64_t known = 1;
  for (size_t i = 0; i < requested.size(); ++i) {
    int64_t dim = requested[i];
    if (dim == 0 && !allow_zero) {
      if (i >= data.shape.size()) {
        context.Fail("shape " + ShapeToString(requested) + " copies dimension " + std::to_string(i) + " (0) but the input " +
                     ShapeToString(data.shape) + " has rank " + std::to_string(data.shape.size()));
      }
      dim = data.shape[i];
    }
    if (dim == -1) {
      if (inferred_axis >= 0) context.Fail("shape " + ShapeToString(requested) + " has more than one -1");
      inferred_axis = static_cast<int64_t>(i);
      continue;
    }
    if (dim < 0) context.Fail("shape " + ShapeToString(requested) + " has a negative dimension other than -1");
    output[i] = dim;
    known *= dim;
  }
  const int64_t total = data.NumElements();
  if (inferred_axis >= 0) {
    if (known == 0 || total % known != 0) {
      context.Fail("cannot infer the -1 in shape " + ShapeToString(requested) + " for input " + ShapeToString(data.shape));
    }
    output[static_cast<size_t>(inferred_axis)] = total / known;
  } else if (known != total) {
    context.Fail("shape " + ShapeToString(requested) + " has " + std::to_string(known) + " elements but the input " +
                 ShapeToString(data.shape) + " has " + std::to_string(total));
  }
  return {TensorType{data.dtype, output}};
}

std::vector<TensorType> InferFlatten(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const auto rank = static_cast<int64_t>(data.shape.size());
  int64_t axis = context.Int("axis", 1);
  if (axis < -rank || axis > rank) {
    context.Fail("axis " + std::to_string(axis) + " is out of range " + std::to_string(-rank) + ".." + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= data.shape[static_cast<size_t>(i)];
  return {TensorType{data.dtype, {outer, inner}}};
}

IntList ReadAxes(const OpContext& context) {
  if (context.HasInput(1)) return context.IntValues(1, "axes");
  return context.Ints("axes", {});
}

std::vector<TensorType> InferSqueeze(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const auto rank = static_cast<int64_t>(data.shape.size());
  const bool has_axes = context.HasInput(1) || context.HasParam("axes");
  std::vector<bool> removed(static_cast<size_t>(rank), false);
  if (has_axes) {
    for (int64_t axis : ReadAxes(context)) {
      const auto normalized = static_cast<size_t>(context.Axis(axis, rank, "squeeze axis"));
      if (data.shape[normalized] != 1) {
        context.Fail("cannot squeeze axis " + std::to_string(axis) + " of " + ShapeToString(data.shape) + ": its size is not 1");
      }
      removed[normalized] = true;
    }
  } else {
    for (size_t i = 0; i < removed.size(); ++i) removed[i] = data.shape[i] == 1;
  }
  Shape output;
  for (size_t i = 0; i < removed.size(); ++i) {
    if (!removed[i]) output.push_back(data.shape[i]);
  }
  return {TensorType{data.dtype, output}};
}

std::vector<TensorType> InferUnsqueeze(const OpContext& context) {
  const TensorType& data = context.Input(0);
  const IntList axes = ReadAxes(context);
  if (axes.empty()) context.Fail("axes must be given (input 1, or the 'axes' attribute before opset 13)");
  const auto rank = static_cast<int64_t>(data.shape.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(rank), false);
  for (int64_t axis : axes) {
    const auto normalized = static_cast<size_t>(context.Axis(axis, rank, "unsqueeze axis"));
    if (inserted[normalized]) context.Fail("axes " + ShapeToString(axes) + " repeat an axis");
    inserted[normalized] = true;
  }
  Shape output;
  size_t next = 0;
  for (bool is_new : inserted) output.push_back(is_new ? 1 : data.shape[next++]);
  return {TensorType{data.dtype, output}};
}

OpDefinition Define(const char* type, InferFunction infer, int32_t min_inputs, int32_t max_inputs,
                    std::vector<int32_t> constant_int_inputs) {
  OpDefinition definition;
  definition.type = type;
  definition.infer = infer;
  definition.min_inputs = min_inputs;
  definition.max_inputs = max_inputs;
  definition.constant_int_inputs = std::move(constant_int_inputs);
  return definition;
}

OpDefinition Metadata(OpDefinition definition) {
  definition.needs_kernel = false;
  definition.bytes = NoBytes;
  return definition;
}

}  // namespace

void RegisterShapeOps(std::vector<OpDefinition>& registry) {
  registry.push_back(Define("Concat", InferConcat, 1, kManyInputs, {}));
  OpDefinition split = Define("Split", InferSplit, 1, 2, {1});
  split.max_outputs = kManyInputs;
  split.bytes = CopyBytes;
  registry.push_back(split);
  OpDefinition slice = Define("Slice", InferSlice, 3, 5, {1, 2, 3, 4});
  slice.bytes = CopyBytes;
  registry.push_back(slice);
  registry.push_back(Define("Pad", InferPad, 1, 4, {1, 3}));
  OpDefinition gather = Define("Gather", InferGather, 2, 2, {});
  gather.bytes = GatherBytes;
  registry.push_back(gather);
  registry.push_back(Define("Transpose", InferTranspose, 1, 1, {}));
  registry.push_back(Metadata(Define("Reshape", InferReshape, 2, 2, {1})));
  registry.push_back(Metadata(Define("Flatten", InferFlatten, 1, 1, {})));
  registry.push_back(Metadata(Define("Squeeze", InferSqueeze, 1, 2, {1})));
  registry.push_back(Metadata(Define("Unsqueeze", InferUnsqueeze, 1, 2, {1})));
}

}  // namespace xflow
