// Output sizes of sliding-window ops (Conv, MaxPool, AveragePool): the ONNX
// rules for strides, dilations, explicit pads, auto_pad and ceil_mode.
#ifndef RLGRAPH_XFLOW_ENGINE_SLIDING_WINDOW_H_
#define RLGRAPH_XFLOW_ENGINE_SLIDING_WINDOW_H_

#include "engine/op_registry.h"

namespace xflow {

struct SlidingWindow {
  IntList kernel;
  IntList strides;
  IntList dilations;
  IntList pads;  // begin pads of every spatial axis, then end pads
};

// Reads kernel_shape/strides/dilations/pads from the op's parameters for
// `spatial_rank` spatial axes (kernel falls back to `kernel_default` when
// the op has no kernel_shape, as Conv takes it from its weight).
SlidingWindow ReadSlidingWindow(const OpContext& context, size_t spatial_rank, const IntList& kernel_default);

// Output spatial sizes for the given input spatial sizes, honouring the
// op's auto_pad and (when ceil_mode) ONNX's ceil rounding.
Shape SlidingWindowOutput(const OpContext& context, const Shape& input_spatial, const SlidingWindow& window,
                          bool ceil_mode);

}  // namespace xflow

#endif  // RLGRAPH_XFLOW_ENGINE_SLIDING_WINDOW_H_
