// Sliding-window output sizes (see sliding_window.h).
#include "engine/sliding_window.h"

namespace xflow {
namespace {

void CheckLength(const OpContext& context, const char* name, const IntList& values, size_t expected) {
  if (values.size() != expected) {
    context.Fail(std::string("parameter '") + name + "' must have " + std::to_string(expected) + " values, got " +
                 ShapeToString(values));
  }
}

int64_t CeilDivide(int64_t numerator, int64_t denominator) {
  return numerator >= 0 ? (numerator + denominator - 1) / denominator : -((-numerator) / denominator);
}

int64_t FloorDivide(int64_t numerator, int64_t denominator) {
  return numerator >= 0 ? numerator / denominator : -CeilDivide(-numerator, denominator);
}

}  // namespace

SlidingWindow ReadSlidingWindow(const OpContext& context, size_t spatial_rank, const IntList& kernel_default) {
  SlidingWindow window;
  window.kernel = context.Ints("kernel_shape", kernel_default);
  window.strides = context.Ints("strides", IntList(spatial_rank, 1));
  window.dilations = context.Ints("dilations", IntList(spatial_rank, 1));
  window.pads = context.Ints("pads", IntList(2 * spatial_rank, 0));
  CheckLength(context, "kernel_shape", window.kernel, spatial_rank);
  CheckLength(context, "strides", window.strides, spatial_rank);
  CheckLength(context, "dilations", window.dilations, spatial_rank);
  CheckLength(context, "pads", window.pads, 2 * spatial_rank);
  for (size_t i = 0; i < spatial_rank; ++i) {
    if (window.kernel[i] < 1 || window.strides[i] < 1 || window.dilations[i] < 1) {
      context.Fail("kernel_shape, strides and dilations must be >= 1; got kernel " + ShapeToString(window.kernel) +
                   ", strides " + ShapeToString(window.strides) + ", dilations " + ShapeToString(window.dilations));
    }
  }
  for (int64_t pad : window.pads) {
    if (pad < 0) context.Fail("pads must be >= 0, got " + ShapeToString(window.pads));
  }
  return window;
}

Shape SlidingWindowOutput(const OpContext& context, const Shape& input_spatial, const SlidingWindow& window,
                          bool ceil_mode) {
  const std::string auto_pad = context.String("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
    context.Fail("auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got '" + auto_pad + "'");
  }
  const size_t rank = input_spatial.size();
  Shape output(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t extent = window.dilations[i] * (window.kernel[i] - 1) + 1;
    const int64_t stride = window.strides[i];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      output[i] = CeilDivide(input_spatial[i], stride);
    } else if (auto_pad == "VALID") {
      output[i] = CeilDivide(input_spatial[i] - extent + 1, stride);
    } else {
      const int64_t padded = input_spatial[i] + window.pads[i] + window.pads[i + rank];
      output[i] = (ceil_mode ? CeilDivide(padded - extent, stride) : FloorDivide(padded - extent, stride)) + 1;
      // With ceil rounding the last window must still start inside the
      // input or the begin padding, as ONNX specifies.
      if (ceil_mode && (output[i] - 1) * stride >= input_spatial[i] + window.pads[i]) --output[i];
    }
    if (output[i] < 1) {
      context.Fail("spatial axis " + std::to_string(i) + " of size " + std::to_string(input_spatial[i]) +
                   " is too small for a window of extent " + std::to_string(extent) + " (kernel " +
                   ShapeToString(window.kernel) + ", pads " + ShapeToString(window.pads) + ")");
    }
  }
  return output;
}

}  // namespace xflow
