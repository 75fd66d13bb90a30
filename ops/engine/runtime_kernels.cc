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

  RuntimeKernels Run() {
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
      if (type == "Conv") ExtendConv(kernel);
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
                 graph_.TypeOf(*other).shape == output_shape) {
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
    const Op& anchor = op(matmul);
    const bool dense = anchor.type == "Gemm" ||
                       (anchor.inputs.size() == 2 && IsConstant(anchor.inputs[1]) && graph_.TypeOf(anchor.inputs[1]).shape.size() == 2);
    const Shape& output_shape = anchor.outputs[0].shape;
    const int64_t columns = output_shape.empty() ? 1 : output_shape.back();
    bool biased = anchor.type == "Gemm";
    bool scaled = false;
    int32_t last = matmul;
    while (true) {
      const int32_t reader = readers_.Single(graph_, last);
      if (!Free(reader)) return;
      const Op& next = op(reader);
      const Edge* other = OtherInput(next, last);
      if (dense && !biased && !scaled && next.type == "Add" && other != nullptr && IsConstant(*other) &&
          graph_.TypeOf(*other).NumElements() == columns) {
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

  // Scalar scales and last-two-axes transposes of a MatMul's inputs.
  void MarkMatMulInputs() {
    for (int32_t index = 0; index < graph_.NumOps(); ++index) {
      if (op(index).type != "MatMul") continue;
      for (const Edge& edge : op(index).inputs) {
        if (edge.IsMissing() || !launched_[static_cast<size_t>(edge.op)] || absorbed_into_[static_cast<size_t>(edge.op)] >= 0 ||
            is_target_[static_cast<size_t>(edge.op)] || readers_.Single(graph_, edge.op) != index) {
          continue;
        }
        const Op& producer = op(edge.op);
        bool fuses = false;
        if (producer.type == "Mul" && producer.inputs.size() == 2) {
          fuses = IsScalarConstant(producer.inputs[0]) != IsScalarConstant(producer.inputs[1]);
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
      if (!bias_of_matmul) {
        absorbed_into_[static_cast<size_t>(input.op)] = index;
        is_target_[static_cast<size_t>(index)] = true;
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
};

// Per member input: (member position, output) of the member feeding it, or (-1, -1).
std::vector<std::vector<std::pair<int32_t, int32_t>>> MemberInputs(const Graph& graph, const RuntimeKernel& kernel) {
  std::vector<std::vector<std::pair<int32_t, int32_t>>> wiring;
  for (int32_t member : kernel.ops) {
    std::vector<std::pair<int32_t, int32_t>> inputs;
    for (const Edge& edge : graph.op(member).inputs) {
      const auto position = std::find(kernel.ops.begin(), kernel.ops.end(), edge.op);
      if (edge.IsMissing() || position == kernel.ops.end()) {
        inputs.emplace_back(-1, -1);
      } else {
        inputs.emplace_back(static_cast<int32_t>(position - kernel.ops.begin()), edge.output);
      }
    }
    wiring.push_back(std::move(inputs));
  }
  return wiring;
}

}  // namespace

RuntimeKernels FindRuntimeKernels(const Graph& graph, const std::vector<bool>& constant) {
  return Partitioner(graph, constant).Run();
}

std::string KernelKey(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant) {
  if (kernel.ops.size() == 1) return CostKey(graph, kernel.ops[0], constant);
  const auto wiring = MemberInputs(graph, kernel);
  std::string key = "kernel[";
  for (size_t position = 0; position < kernel.ops.size(); ++position) {
    if (position) key += " | ";
    key += CostKey(graph, kernel.ops[position], constant) + " <- (";
    for (size_t i = 0; i < wiring[position].size(); ++i) {
      if (i) key += ",";
      const auto& [member, output] = wiring[position][i];
      key += member < 0 ? std::string("x") : std::to_string(member) + ":" + std::to_string(output);
    }
    key += ")";
  }
  return key + "]";
}

uint64_t KernelHash(const Graph& graph, const RuntimeKernel& kernel, const std::vector<bool>& constant) {
  if (kernel.ops.size() == 1) return CostHash(graph, kernel.ops[0], constant);
  uint64_t hash = 0x6b65726e656cULL;
  const auto wiring = MemberInputs(graph, kernel);
  for (size_t position = 0; position < kernel.ops.size(); ++position) {
    hash = CombineHash(hash, CostHash(graph, kernel.ops[position], constant));
    for (const auto& [member, output] : wiring[position]) {
      hash = CombineHash(hash, static_cast<uint64_t>(static_cast<int64_t>(member) * 131 + output));
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
  return descriptors;
}

}  // namespace xflow
