// The runtime's kernel partition of a graph (see runtime_kernels.h).
#include "engine/runtime_kernels.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "engine/cost_model.h"
#include "engine/hash.h"

namespace xflow {
namespace {

bool IsActivation(const std::string& type) {
  return type == "Relu" || type == "Clip" || type == "Sigmoid" || type == "Tanh" || type == "LeakyRelu";
}

// Who reads each op's first output, and whether it is a graph output.
class Readers {
 public:
  explicit Readers(const Graph& graph) : readers_(static_cast<size_t>(graph.NumOps())), is_output_(readers_.size(), false) {
    for (int32_t index = 0; index < graph.NumOps(); ++index) {
      for (const Edge& edge : graph.op(index).inputs) {
        if (!edge.IsMissing() && edge.output == 0) readers_[static_cast<size_t>(edge.op)].push_back(index);
      }
    }
    for (const GraphOutput& output : graph.outputs()) {
      if (output.edge.output == 0) is_output_[static_cast<size_t>(output.edge.op)] = true;
    }
  }

  // The one op reading `index`'s only output when no other op (and no graph
  // output) does, else -1: only such a tensor can live inside a kernel.
  int32_t Single(const Graph& graph, int32_t index) const {
    if (graph.op(index).outputs.size() != 1 || is_output_[static_cast<size_t>(index)]) return -1;
    const std::vector<int32_t>& readers = readers_[static_cast<size_t>(index)];
    if (readers.empty()) return -1;
    // An op reading the tensor twice (Mul(x, x)) is still one reader.
    for (int32_t reader : readers) {
      if (reader != readers.front()) return -1;
    }
    return readers.front();
  }

 private:
  std::vector<std::vector<int32_t>> readers_;
  std::vector<bool> is_output_;
};

class Partitioner {
 public:
  Partitioner(const Graph& graph, const std::vector<bool>& constant)
      : graph_(graph),
        constant_(constant),
        readers_(graph),
        absorbed_into_(static_cast<size_t>(graph.NumOps()), -1),
        is_target_(static_cast<size_t>(graph.NumOps()), false) {
    launched_.reserve(static_cast<size_t>(graph.NumOps()));
    for (int32_t index = 0; index < graph.NumOps(); ++index) {
      launched_.push_back(ComputeOpMetrics(graph, index, constant).kernel_launches > 0);
    }
  }

  // previous: the partition of an earlier pass, or null for the first.
  RuntimeKernels Run(const RuntimeKernels* previous) {
    previous_ = previous;
    claimed_.clear();
    conv_kernel_ops_.clear();
    std::fill(absorbed_into_.begin(), absorbed_into_.end(), -1);
    std::fill(is_target_.begin(), is_target_.end(), false);
    MarkGelus();
    MarkMatMulInputs();
    MarkSkipLayerNorms();
    RuntimeKernels result;
    result.kernel_of_op.assign(static_cast<size_t>(graph_.NumOps()), -1);
    std::unordered_map<int32_t, std::vector<int32_t>> absorbed_by;
    for (int32_t index = 0; index < graph_.NumOps(); ++index) {
      int32_t target = absorbed_into_[static_cast<size_t>(index)];
      // A fused group can itself fuse into its reader's kernel.
      while (target >= 0 && absorbed_into_[static_cast<size_t>(target)] >= 0) target = absorbed_into_[static_cast<size_t>(target)];
      if (target >= 0) absorbed_by[target].push_back(index);
    }
    for (int32_t index = 0; index < graph_.NumOps(); ++index) {
      if (!launched_[static_cast<size_t>(index)] || result.kernel_of_op[static_cast<size_t>(index)] >= 0 ||
          absorbed_into_[static_cast<size_t>(index)] >= 0) {
        continue;
      }
      RuntimeKernel kernel;
      auto found = absorbed_by.find(index);
      if (found != absorbed_by.end()) kernel.ops = found->second;
      kernel.ops.push_back(index);
      const std::string& type = graph_.op(index).type;
      if (type == "Conv") {
        ExtendConv(kernel);
        conv_kernel_ops_.insert(kernel.ops.begin(), kernel.ops.end());
      }
      if (type == "MatMul" || type == "Gemm") ExtendMatMul(kernel);
      std::sort(kernel.ops.begin(), kernel.ops.end());
      const int32_t kernel_index = static_cast<int32_t>(result.kernels.size());
      for (int32_t member : kernel.ops) result.kernel_of_op[static_cast<size_t>(member)] = kernel_index;
      result.kernels.push_back(std::move(kernel));
    }
    return result;
  }

 private:
  const Op& op(int32_t index) const { return graph_.op(index); }
  bool IsConstant(const Edge& edge) const { return !edge.IsMissing() && constant_[static_cast<size_t>(edge.op)]; }
  bool IsScalarConstant(const Edge& edge) const { return IsConstant(edge) && graph_.TypeOf(edge).NumElements() == 1; }
  // A launched op not yet claimed by any kernel.
  bool Free(int32_t index) const {
    return index >= 0 && launched_[static_cast<size_t>(index)] && absorbed_into_[static_cast<size_t>(index)] < 0 &&
           claimed_.count(index) == 0;
  }
  // The input of a two-input op that is not `from`, or nullptr when `from`
  // is not exactly one of its inputs.
  const Edge* OtherInput(const Op& binary, int32_t from) const {
    if (binary.inputs.size() != 2) return nullptr;
    const bool first = binary.inputs[0].op == from && binary.inputs[0].output == 0;
    const bool second = binary.inputs[1].op == from && binary.inputs[1].output == 0;
    if (first == second) return nullptr;
    return first ? &binary.inputs[1] : &binary.inputs[0];
  }

  void Claim(RuntimeKernel& kernel, int32_t index) {
    kernel.ops.push_back(index);
    claimed_.insert(index);
  }

  // Whether onnxruntime keeps this op's output in its blocked (NCHWc)
  // layout: outputs of Conv kernels and of pools over them. A residual Add
  // fuses into a Conv only when its other operand is in that layout too.
  // A Conv later in graph order has no kernel yet, so an epilogue op is
  // followed back to the Conv it may fuse into (a few ops at most).
  bool InBlockedLayout(int32_t index, int depth = 0) const {
    const std::string& type = op(index).type;
    if (type == "MaxPool" || type == "AveragePool") return true;
    if (previous_ != nullptr) {
      // Later passes know the previous pass's Conv kernels, Convs later in
      // graph order included: a Conv kernel's output is blocked.
      const int32_t kernel = previous_->kernel_of_op[static_cast<size_t>(index)];
      return kernel >= 0 && previous_->kernels[static_cast<size_t>(kernel)].ops.back() == index &&
             op(previous_->kernels[static_cast<size_t>(kernel)].ops.front()).type == "Conv";
    }
    if (conv_kernel_ops_.count(index) > 0 || type == "Conv") return true;
    const bool epilogue = type == "BatchNormalization" || type == "Add" || type == "Mul" || IsActivation(type);
    if (!epilogue || depth >= 4 || op(index).inputs.empty() || op(index).inputs[0].IsMissing()) return false;
    const int32_t producer = op(index).inputs[0].op;
    return readers_.Single(graph_, producer) == index && InBlockedLayout(producer, depth + 1);
  }

  void ExtendConv(RuntimeKernel& kernel) {
    const int32_t conv = kernel.ops.back();
    const Shape& output_shape = op(conv).outputs[0].shape;
    const int64_t channels = output_shape.size() > 1 ? output_shape[1] : 1;
    bool activated = op(conv).params.count("activation") > 0;
    bool summed = false;
    bool folding = !activated;
    int32_t last = conv;
    while (true) {
      const int32_t reader = readers_.Single(graph_, last);
      if (!Free(reader)) return;
      const Op& next = op(reader);
      const Edge* other = OtherInput(next, last);
      if (folding && next.type == "BatchNormalization" && next.inputs[0].op == last &&
          std::all_of(next.inputs.begin() + 1, next.inputs.end(), [&](const Edge& edge) { return edge.IsMissing() || IsConstant(edge); })) {
        // constant statistics fold into the weights
      } else if (folding && (next.type == "Add" || next.type == "Mul") && other != nullptr && IsConstant(*other) &&
                 (graph_.TypeOf(*other).NumElements() == 1 || graph_.TypeOf(*other).NumElements() == channels)) {
        // a per-channel bias or scale folds into the weights
      } else if (!summed && !activated && next.type == "Add" && other != nullptr && !IsConstant(*other) &&
                 graph_.TypeOf(*other).shape == output_shape && InBlockedLayout(other->op)) {
        summed = true;
        folding = false;
      } else if (!activated && IsActivation(next.type) && next.inputs[0].op == last) {
        activated = true;
        folding = false;
      } else {
        return;
      }
      Claim(kernel, reader);
      last = reader;
    }
  }

  void ExtendMatMul(RuntimeKernel& kernel) {
    const int32_t matmul = kernel.ops.back();
    const bool dense = IsDense(matmul);
    bool biased = op(matmul).type == "Gemm";
    bool scaled = false;
    int32_t last = matmul;
    while (true) {
      const int32_t reader = readers_.Single(graph_, last);
      if (!Free(reader)) return;
      const Op& next = op(reader);
      const Edge* other = OtherInput(next, last);
      if (dense && !biased && !scaled && last == matmul && IsBiasAdd(matmul, reader)) {
        biased = true;
      } else if (!biased && !scaled && (next.type == "Mul" || (next.type == "Div" && next.inputs[0].op == last)) &&
                 other != nullptr && IsScalarConstant(*other)) {
        scaled = true;
      } else if (dense && biased && IsActivation(next.type) && next.inputs[0].op == last) {
        Claim(kernel, reader);
        return;
      } else {
        return;
      }
      Claim(kernel, reader);
      last = reader;
    }
  }

  // A MatMul of a constant 2-D weight whose only reader adds a constant bias.
  bool IsDense(int32_t matmul) const {
    const Op& anchor = op(matmul);
    return anchor.type == "Gemm" ||
           (anchor.inputs.size() == 2 && IsConstant(anchor.inputs[1]) && graph_.TypeOf(anchor.inputs[1]).shape.size() == 2);
  }
  bool IsBiasAdd(int32_t matmul, int32_t add) const {
    if (add < 0 || op(add).type != "Add") return false;
    const Edge* other = OtherInput(op(add), matmul);
    const Shape& output_shape = op(matmul).outputs[0].shape;
    return other != nullptr && IsConstant(*other) && graph_.TypeOf(*other).NumElements() == (output_shape.empty() ? 1 : output_shape.back());
  }
  bool BecomesGemm(int32_t matmul) const { return IsDense(matmul) && IsBiasAdd(matmul, readers_.Single(graph_, matmul)); }

  // Scalar scales and last-two-axes transposes of a MatMul's inputs.
  void MarkMatMulInputs() {
    for (int32_t index = 0; index < graph_.NumOps(); ++index) {
      // A MatMul that takes its bias becomes a Gemm first, and onnxruntime
      // fuses scales into MatMul nodes only.
      if (op(index).type != "MatMul" || BecomesGemm(index)) continue;
      for (const Edge& edge : op(index).inputs) {
        if (edge.IsMissing() || !launched_[static_cast<size_t>(edge.op)] || absorbed_into_[static_cast<size_t>(edge.op)] >= 0 ||
            is_target_[static_cast<size_t>(edge.op)] || readers_.Single(graph_, edge.op) != index) {
          continue;
        }
        const Op& producer = op(edge.op);
        bool fuses = false;
        if (producer.type == "Mul" && producer.inputs.size() == 2) {
          fuses = IsScalarConstant(producer.inputs[0]) != IsScalarConstant(producer.inputs[1]);
        } else if (producer.type == "Div" && producer.inputs.size() == 2) {
          fuses = !IsConstant(producer.inputs[0]) && IsScalarConstant(producer.inputs[1]);
        } else if (producer.type == "Transpose") {
          const auto found = producer.params.find("perm");
          if (found != producer.params.end()) {
            const IntList& perm = std::get<IntList>(found->second);
            const int64_t rank = static_cast<int64_t>(perm.size());
            fuses = rank >= 2 && perm[static_cast<size_t>(rank - 2)] == rank - 1 && perm[static_cast<size_t>(rank - 1)] == rank - 2;
            for (int64_t axis = 0; fuses && axis + 2 < rank; ++axis) fuses = perm[static_cast<size_t>(axis)] == axis;
          }
        }
        if (fuses) {
          absorbed_into_[static_cast<size_t>(edge.op)] = index;
          is_target_[static_cast<size_t>(index)] = true;
        }
      }
    }
  }

  void MarkSkipLayerNorms() {
    for (int32_t index = 0; index < graph_.NumOps(); ++index) {
      if (op(index).type != "LayerNormalization") continue;
      const Edge& input = op(index).inputs[0];
      if (input.IsMissing() || op(input.op).type != "Add" || !launched_[static_cast<size_t>(input.op)] ||
          absorbed_into_[static_cast<size_t>(input.op)] >= 0 || readers_.Single(graph_, input.op) != index) {
        continue;
      }
      // A MatMul's bias Add becomes part of a Gemm first (onnxruntime fuses
      // MatMul+Add at a lower optimization level than SkipLayerNormalization).
      const Op& add = op(input.op);
      bool bias_of_matmul = false;
      for (int side = 0; side < 2; ++side) {
        const Edge& operand = add.inputs[static_cast<size_t>(side)];
        const Edge& bias = add.inputs[static_cast<size_t>(1 - side)];
        if (!operand.IsMissing() && op(operand.op).type == "MatMul" && IsConstant(bias) &&
            readers_.Single(graph_, operand.op) == input.op) {
          bias_of_matmul = true;
        }
      }
      if (bias_of_matmul) continue;
      absorbed_into_[static_cast<size_t>(input.op)] = index;
      is_target_[static_cast<size_t>(index)] = true;
      // SkipLayerNormalization also takes a bias: Add(Add(x, bias), skip).
      for (const Edge& operand : add.inputs) {
        if (operand.IsMissing() || op(operand.op).type != "Add" || !launched_[static_cast<size_t>(operand.op)] ||
            absorbed_into_[static_cast<size_t>(operand.op)] >= 0 || readers_.Single(graph_, operand.op) != input.op) {
          continue;
        }
        const Op& inner = op(operand.op);
        const Edge& x = IsConstant(inner.inputs[0]) ? inner.inputs[1] : inner.inputs[0];
        const Edge& bias = IsConstant(inner.inputs[0]) ? inner.inputs[0] : inner.inputs[1];
        const Shape& hidden = op(index).outputs[0].shape;
        // The bias is one vector over the hidden axis (a position table is not).
        const bool has_bias = IsConstant(bias) && !IsConstant(x) && !hidden.empty() &&
                              graph_.TypeOf(bias).NumElements() == hidden.back();
        const bool gemm_bias = !x.IsMissing() && (op(x.op).type == "MatMul" || op(x.op).type == "Gemm") && BecomesGemm(x.op);
        if (has_bias && !gemm_bias) {
          absorbed_into_[static_cast<size_t>(operand.op)] = index;
          break;
        }
      }
    }
  }

  // GELU's erf form: x * 0.5 * (1 + erf(x / sqrt 2)), the half first or last.
  void MarkGelus() {
    for (int32_t erf = 0; erf < graph_.NumOps(); ++erf) {
      if (op(erf).type != "Erf" || !launched_[static_cast<size_t>(erf)]) continue;
      const int32_t divide = op(erf).inputs[0].op;
      if (op(divide).type != "Div" || !IsScalarConstant(op(divide).inputs[1]) || readers_.Single(graph_, divide) != erf) continue;
      const Edge x = op(divide).inputs[0];
      const int32_t add_one = readers_.Single(graph_, erf);
      if (add_one < 0 || op(add_one).type != "Add") continue;
      const Edge* one = OtherInput(op(add_one), erf);
      if (one == nullptr || !IsScalarConstant(*one)) continue;
      const int32_t product = readers_.Single(graph_, add_one);
      if (product < 0 || op(product).type != "Mul") continue;
      const Edge* multiplicand = OtherInput(op(product), add_one);
      if (multiplicand == nullptr) continue;
      std::vector<int32_t> members = {divide, erf, add_one, product};
      int32_t last = product;
      if (*multiplicand == x) {
        const int32_t half = readers_.Single(graph_, product);
        if (half < 0 || op(half).type != "Mul") continue;
        const Edge* scale = OtherInput(op(half), product);
        if (scale == nullptr || !IsScalarConstant(*scale)) continue;
        members.push_back(half);
        last = half;
      } else {
        const int32_t half = multiplicand->op;
        if (multiplicand->IsMissing() || op(half).type != "Mul" || readers_.Single(graph_, half) != product) continue;
        const Op& half_op = op(half);
        const bool x_first = half_op.inputs[0] == x && IsScalarConstant(half_op.inputs[1]);
        const bool x_second = half_op.inputs[1] == x && IsScalarConstant(half_op.inputs[0]);
        if (!x_first && !x_second) continue;
        members.push_back(half);
      }
      if (!std::all_of(members.begin(), members.end(), [&](int32_t member) {
            return launched_[static_cast<size_t>(member)] && absorbed_into_[static_cast<size_t>(member)] < 0;
          })) {
        continue;
      }
      for (int32_t member : members) {
        if (member != last) absorbed_into_[static_cast<size_t>(member)] = last;
      }
      is_target_[static_cast<size_t>(last)] = true;
    }
  }

  const Graph& graph_;
  const std::vector<bool>& constant_;
  Readers readers_;
  std::vector<bool> launched_;
  std::vector<int32_t> absorbed_into_;
  std::vector<bool> is_target_;  // ops that others were marked to fuse into
  std::unordered_set<int32_t> claimed_;
  std::unordered_set<int32_t> conv_kernel_ops_;
  const RuntimeKernels* previous_ = nullptr;
};

// Per member input: (member position, output) of the member feeding it;
// (-1, k) for the k-th distinct tensor from outside the kernel (GELU reads x
// twice, and the runtime fuses only when both reads are one tensor); (-1, -1)
// for an omitted optional input.
std::vector<std::vector<std::pair<int32_t, int32_t>>> MemberInputs(const Graph& graph, const RuntimeKernel& kernel) {
  std::vector<std::vector<std::pair<int32_t, int32_t>>> wiring;
  std::vector<Edge> externals;
  for (int32_t member : kernel.ops) {
    std::vector<std::pair<int32_t, int32_t>> inputs;
    for (const Edge& edge : graph.op(member).inputs) {
      const auto position = std::find(kernel.ops.begin(), kernel.ops.end(), edge.op);
      if (edge.IsMissing()) {
        inputs.emplace_back(-1, -1);
      } else if (position != kernel.ops.end()) {
        inputs.emplace_back(static_cast<int32_t>(position - kernel.ops.begin()), edge.output);
      } else {
        auto known = std::find(externals.begin(), externals.end(), edge);
        if (known == externals.end()) known = externals.insert(externals.end(), edge);
        inputs.emplace_back(-1, static_cast<int32_t>(known - externals.begin()));
      }
    }
    wiring.push_back(std::move(inputs));
  }
  return wiring;
}

}  // namespace

namespace {

constexpr int64_t kChannelBlock = 8;

bool IsPassThrough(const std::string& type) { return type == "Identity" || type == "Dropout"; }

bool ConvertsWhenInputBlocked(const std::string& type) {
  return type == "MaxPool" || type == "AveragePool" || type == "GlobalAveragePool" || type == "GlobalMaxPool" ||
         type == "Concat" || type == "Add" || type == "BatchNormalization" || IsActivation(type);
}

int64_t Channels(const TensorType& type) { return type.shape.size() == 4 ? type.shape[1] : 0; }

// Which op outputs onnxruntime keeps blocked, and where it copies between
// layouts (see LayoutReorder). Identity and Dropout are removed before, so
// they pass their input's layout on.
void FindReorders(const Graph& graph, RuntimeKernels& result) {
  const int32_t count = graph.NumOps();
  std::vector<bool> blocked(static_cast<size_t>(count), false);
  auto input_blocked = [&](const Edge& edge) { return !edge.IsMissing() && edge.output == 0 && blocked[static_cast<size_t>(edge.op)]; };
  std::vector<int32_t> carrier(static_cast<size_t>(count), -1);  // the op whose cost a copy of this op's output goes to
  std::vector<Edge> copied_in;
  // Plain tensors a blocked Conv reads: onnxruntime copies them in once, and
  // a pool, BatchNormalization or activation reading the same tensor then
  // reads the copy (Concat and Add do not).
  auto converted_conv = [&](const Op& conv) {
    const int64_t group = conv.params.count("group") ? std::get<int64_t>(conv.params.at("group")) : 1;
    return conv.type == "Conv" && Channels(conv.outputs[0]) % kChannelBlock == 0 && group == 1;
  };
  std::vector<Edge> read_by_blocked_conv;
  for (const RuntimeKernel& kernel : result.kernels) {
    const Op& anchor = graph.op(kernel.ops.front());
    if (converted_conv(anchor) && Channels(graph.TypeOf(anchor.inputs[0])) % kChannelBlock == 0) {
      read_by_blocked_conv.push_back(anchor.inputs[0]);
    }
  }
  auto readable_blocked = [&](const Edge& edge) {
    return input_blocked(edge) ||
           (!edge.IsMissing() && std::find(read_by_blocked_conv.begin(), read_by_blocked_conv.end(), edge) != read_by_blocked_conv.end());
  };
  for (int32_t index = 0; index < count; ++index) {
    const Op& op = graph.op(index);
    const int32_t kernel = result.kernel_of_op[static_cast<size_t>(index)];
    carrier[static_cast<size_t>(index)] = kernel >= 0 ? result.kernels[static_cast<size_t>(kernel)].ops.back() : index;
    if (op.outputs.size() != 1 || op.outputs[0].shape.size() != 4) continue;
    const int32_t anchor = kernel >= 0 ? result.kernels[static_cast<size_t>(kernel)].ops.front() : -1;
    if (anchor >= 0 && graph.op(anchor).type == "Conv") {
      const Op& conv = graph.op(anchor);
      const bool converted = converted_conv(conv);
      blocked[static_cast<size_t>(index)] = converted;
      if (converted && index == anchor) {
        const Edge& input = conv.inputs[0];
        // One copy per plain tensor, however many Convs read it.
        const bool first_reader = std::find(copied_in.begin(), copied_in.end(), input) == copied_in.end();
        if (!input_blocked(input) && Channels(graph.TypeOf(input)) % kChannelBlock == 0 && first_reader) {
          copied_in.push_back(input);
          result.reorders.push_back({true, graph.TypeOf(input), carrier[static_cast<size_t>(index)]});
        }
      }
    } else if (IsPassThrough(op.type)) {
      blocked[static_cast<size_t>(index)] = input_blocked(op.inputs[0]);
      carrier[static_cast<size_t>(index)] = op.inputs[0].IsMissing() ? index : carrier[static_cast<size_t>(op.inputs[0].op)];
    } else if (ConvertsWhenInputBlocked(op.type) && !op.inputs.empty()) {
      const bool all = op.type == "Concat" || op.type == "Add";
      blocked[static_cast<size_t>(index)] =
          all ? std::all_of(op.inputs.begin(), op.inputs.end(), [&](const Edge& edge) { return input_blocked(edge); })
              : readable_blocked(op.inputs[0]);
    }
  }
  // A blocked tensor read by an op that does not run blocked, or a graph output, is copied out once.
  std::vector<bool> copied_out(static_cast<size_t>(count), false);
  auto copy_out = [&](int32_t producer) {
    if (!blocked[static_cast<size_t>(producer)] || copied_out[static_cast<size_t>(producer)]) return;
    copied_out[static_cast<size_t>(producer)] = true;
    result.reorders.push_back({false, graph.op(producer).outputs[0], carrier[static_cast<size_t>(producer)]});
  };
  for (int32_t index = 0; index < count; ++index) {
    const Op& op = graph.op(index);
    // Converted ops (Conv kernels' members included) read blocked tensors as they are.
    if (blocked[static_cast<size_t>(index)] || IsPassThrough(op.type)) continue;
    for (const Edge& edge : op.inputs) {
      if (!edge.IsMissing() && edge.output == 0) copy_out(edge.op);
    }
  }
  for (const GraphOutput& output : graph.outputs()) {
    if (output.edge.output == 0) copy_out(output.edge.op);
  }
}

}  // namespace

std::string ReorderKey(const LayoutReorder& reorder) {
  return std::string(reorder.to_blocked ? "ReorderInput(" : "ReorderOutput(") + TensorTypeToString(reorder.type) + ")";
}

uint64_t ReorderHash(const LayoutReorder& reorder) {
  return CombineHash(HashTensorType(reorder.type), reorder.to_blocked ? 0x72656f72646572ULL : 0x72656f726465ULL);
}

KernelDescriptor ReorderDescriptorOf(const LayoutReorder& reorder) {
  KernelDescriptor descriptor;
  descriptor.kernel_key = ReorderKey(reorder);
  descriptor.reorder = reorder.to_blocked ? "ReorderInput" : "ReorderOutput";
  descriptor.reorder_type = reorder.type;
  return descriptor;
}

RuntimeKernels FindRuntimeKernels(const Graph& graph, const std::vector<bool>& constant) {
  // Whether a residual Add fuses depends on whether its other operand is a
  // Conv kernel's output, which may come later in graph order; each pass
  // decides with the previous pass's kernels until nothing changes (the
  // first pass guesses by following epilogue ops back to a Conv).
  Partitioner partitioner(graph, constant);
  RuntimeKernels current = partitioner.Run(nullptr);
  for (int pass = 0; pass < 4; ++pass) {
    RuntimeKernels next = partitioner.Run(&current);
    const bool settled = next.kernel_of_op == current.kernel_of_op;
    current = std::move(next);
    if (settled) break;
  }
  FindReorders(graph, current);
  return current;
}

namespace {

// A kernel as its key sees it: per member, its cost key, cost hash and
// wiring. An engine Conv with a fused activation is spelled as the Conv and
// a Relu, so it has the key of the same kernel reached from an unfused
// Conv -> Relu (onnxruntime runs both as one FusedConv).
struct KeyMember {
  std::string key;
  uint64_t hash;
  std::vector<std::pair<int32_t, int32_t>> wiring;
};

bool HasFusedActivation(const Op& op) { return op.type == "Conv" && op.params.count("activation") > 0; }

std::vector<KeyMember> KeyMembers(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant) {
  const auto wiring = MemberInputs(graph, kernel);
  std::vector<KeyMember> members;
  for (size_t position = 0; position < kernel.ops.size(); ++position) {
    const int32_t index = kernel.ops[position];
    const Op& op = graph.op(index);
    if (!HasFusedActivation(op)) {
      members.push_back({CostKey(graph, index, constant), CostHash(graph, index, constant), wiring[position]});
      continue;
    }
    // Only a lone Conv carries the engine's activation (ExtendConv adds
    // nothing after an activation), so the Relu reads member 0.
    Op plain = op;
    plain.params.erase("activation");
    std::vector<CostInput> inputs;
    for (const Edge& edge : op.inputs) {
      inputs.push_back(edge.IsMissing() ? CostInput{}
                                        : CostInput{&graph.TypeOf(edge), static_cast<bool>(constant[static_cast<size_t>(edge.op)]),
                                                    graph.IntValuesOf(edge)});
    }
    std::string key = CostKey(graph, index, constant);
    for (const std::string text : {"activation=\"relu\",", ",activation=\"relu\"", "activation=\"relu\""}) {
      const size_t found = key.rfind(text);
      if (found != std::string::npos) {
        key.erase(found, text.size());
        break;
      }
    }
    members.push_back({key, CostHash(plain, inputs), wiring[position]});
    Op relu;
    relu.type = "Relu";
    relu.outputs = {op.outputs[0]};
    members.push_back({"Relu(" + TensorTypeToString(op.outputs[0]) + ")->1{}",
                       CostHash(relu, {CostInput{&op.outputs[0], false, nullptr}}),
                       {{static_cast<int32_t>(members.size() - 1), 0}}});
  }
  return members;
}

}  // namespace

std::string KernelKey(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant) {
  if (kernel.ops.size() == 1 && !HasFusedActivation(graph.op(kernel.ops[0]))) return CostKey(graph, kernel.ops[0], constant);
  std::string key = "kernel[";
  const std::vector<KeyMember> members = KeyMembers(graph, kernel, constant);
  for (size_t position = 0; position < members.size(); ++position) {
    if (position) key += " | ";
    key += members[position].key + " <- (";
    for (size_t i = 0; i < members[position].wiring.size(); ++i) {
      if (i) key += ",";
      const auto& [member, output] = members[position].wiring[i];
      key += member >= 0 ? std::to_string(member) + ":" + std::to_string(output) : output >= 0 ? "x" + std::to_string(output) : std::string("-");
    }
    key += ")";
  }
  return key + "]";
}

uint64_t KernelHash(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant) {
  if (kernel.ops.size() == 1 && !HasFusedActivation(graph.op(kernel.ops[0]))) return CostHash(graph, kernel.ops[0], constant);
  uint64_t hash = 0x6b65726e656cULL;
  for (const KeyMember& member : KeyMembers(graph, kernel, constant)) {
    hash = CombineHash(hash, member.hash);
    for (const auto& [source, output] : member.wiring) {
      hash = CombineHash(hash, static_cast<uint64_t>(static_cast<int64_t>(source) * 131 + output));
    }
  }
  return hash;
}

KernelDescriptor KernelDescriptorOf(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant) {
  KernelDescriptor descriptor;
  descriptor.kernel_key = KernelKey(graph, kernel, constant);
  descriptor.member_inputs = MemberInputs(graph, kernel);
  for (int32_t member : kernel.ops) {
    descriptor.members.push_back(MeasurementDescriptorOf(graph, member, constant));
    const Op& op = graph.op(member);
    const auto activation = op.params.find("activation");
    descriptor.fused_activation.push_back(op.type == "Conv" && activation != op.params.end() ? std::get<std::string>(activation->second)
                                                                                             : std::string());
  }
  return descriptor;
}

std::vector<KernelDescriptor> KernelDescriptors(const Graph& graph) {
  const std::vector<bool> constant = graph.ConstantOps();
  const RuntimeKernels kernels = FindRuntimeKernels(graph, constant);
  std::vector<KernelDescriptor> descriptors;
  std::unordered_set<std::string> seen;
  for (const RuntimeKernel& kernel : kernels.kernels) {
    KernelDescriptor descriptor = KernelDescriptorOf(graph, kernel, constant);
    if (seen.insert(descriptor.kernel_key).second) descriptors.push_back(std::move(descriptor));
  }
  for (const LayoutReorder& reorder : kernels.reorders) {
    KernelDescriptor descriptor = ReorderDescriptorOf(reorder);
    if (seen.insert(descriptor.kernel_key).second) descriptors.push_back(std::move(descriptor));
  }
  return descriptors;
}

}  // namespace xflow
