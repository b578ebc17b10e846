// oneDNN 2-D convolution as an XLA FFI custom call for XLA:CPU (NHWC input, HWIO kernel).
//
// One handler, three directions chosen by the `direction` attribute:
//   0 forward          (x, kernel)  -> y
//   1 input gradient   (dy, kernel) -> dx
//   2 weight gradient  (x, dy)      -> dkernel
// Shapes come from the buffers; `strides`, `padding` (top, bottom, left, right), `dilation` and
// `groups` follow lax.conv_general_dilated.  float32 or bfloat16, all operands of one dtype.
// Under jax.vmap (vmap_method="expand_dims") every buffer has the same number of leading batch axes, each
// the output's size or 1 (an operand shared along it): one call runs the primitive once per member, on
// each buffer's member block in place, so K members cost K convs and one dispatch, with no copies.
// Primitives are cached by shape (oneDNN's JIT kernels take ~1 ms to create).  XLA may run two
// custom calls at once on its threads: each call brings its own scratchpad (oneDNN's library-held
// one is shared between primitives, and concurrent use corrupts it).

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

enum Direction : int64_t { kForward = 0, kInputGradient = 1, kWeightGradient = 2 };

using Key = std::tuple<int64_t, int64_t, std::vector<int64_t>>;

struct Plan {
  dnnl::primitive primitive;
  dnnl::memory::desc weights_desc;       // the primitive's own (possibly blocked) kernel layout
  dnnl::memory::desc user_weights_desc;  // HWIO, as XLA holds it
  dnnl::primitive weights_reorder;       // HWIO -> weights_desc (weight gradient: the reverse)
  bool reorder_weights = false;
  size_t scratchpad_bytes = 0;
};

// A 64-byte-aligned buffer of this thread's, grown to the largest scratchpad it has served.
void* ThreadScratchpad(size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  if (bytes > buffer.size) {
    std::free(buffer.data);
    buffer.size = 0;
    buffer.data = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (buffer.data == nullptr) throw std::bad_alloc();
    buffer.size = (bytes + 63) / 64 * 64;
  }
  return buffer.data;
}

// Never destroyed: the cached primitives below may outlive any static destruction order.
dnnl::engine& Engine() {
  static auto* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

// Logical dims: src {N, C, H, W}; weights {O, I, KH, KW} or grouped {G, O/G, I/G, KH, KW}.
struct Geometry {
  int64_t n, c, h, w, f, oh, ow, kh, kw, groups;
  dnnl::memory::dims strides, dilation, pad_l, pad_r;

  dnnl::memory::desc Src(dnnl::memory::data_type t) const {
    return dnnl::memory::desc({n, c, h, w}, t, dnnl::memory::format_tag::nhwc);
  }
  dnnl::memory::desc Dst(dnnl::memory::data_type t) const {
    return dnnl::memory::desc({n, f, oh, ow}, t, dnnl::memory::format_tag::nhwc);
  }
  dnnl::memory::dims WeightDims() const {
    if (groups == 1) return {f, c, kh, kw};
    return {groups, f / groups, c / groups, kh, kw};
  }
  dnnl::memory::desc UserWeights(dnnl::memory::data_type t) const {
    return dnnl::memory::desc(WeightDims(), t,
                              groups == 1 ? dnnl::memory::format_tag::hwio : dnnl::memory::format_tag::hwigo);
  }
  dnnl::memory::desc AnyWeights(dnnl::memory::data_type t) const {
    return dnnl::memory::desc(WeightDims(), t, dnnl::memory::format_tag::any);
  }
};

Plan MakePlan(int64_t direction, const Geometry& g, dnnl::memory::data_type t) {
  using namespace dnnl;
  auto& eng = Engine();
  const auto src = g.Src(t), dst = g.Dst(t), any_w = g.AnyWeights(t);
  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);
  // The forward descriptor is the hint that the backward primitives need.
  convolution_forward::primitive_desc fwd(eng, prop_kind::forward_training, algorithm::convolution_direct, src, any_w,
                                          dst, g.strides, g.dilation, g.pad_l, g.pad_r, attr);
  Plan plan;
  plan.user_weights_desc = g.UserWeights(t);
  if (direction == kForward) {
    plan.primitive = convolution_forward(fwd);
    plan.weights_desc = fwd.weights_desc();
    plan.scratchpad_bytes = fwd.scratchpad_desc().get_size();
  } else if (direction == kInputGradient) {
    convolution_backward_data::primitive_desc bwd(eng, algorithm::convolution_direct, src, any_w, dst, g.strides,
                                                  g.dilation, g.pad_l, g.pad_r, fwd, attr);
    plan.primitive = convolution_backward_data(bwd);
    plan.weights_desc = bwd.weights_desc();
    plan.scratchpad_bytes = bwd.scratchpad_desc().get_size();
  } else {
    convolution_backward_weights::primitive_desc bwd(eng, algorithm::convolution_direct, src, any_w, dst, g.strides,
                                                     g.dilation, g.pad_l, g.pad_r, fwd, attr);
    plan.primitive = convolution_backward_weights(bwd);
    plan.weights_desc = bwd.diff_weights_desc();
    plan.scratchpad_bytes = bwd.scratchpad_desc().get_size();
  }
  plan.reorder_weights = plan.weights_desc != plan.user_weights_desc;
  if (plan.reorder_weights) {
    plan.weights_reorder = direction == kWeightGradient
                               ? reorder(reorder::primitive_desc(eng, plan.weights_desc, eng, plan.user_weights_desc))
                               : reorder(reorder::primitive_desc(eng, plan.user_weights_desc, eng, plan.weights_desc));
  }
  return plan;
}

const Plan& CachedPlan(int64_t direction, const Geometry& g, dnnl::memory::data_type t) {
  static std::mutex mutex;
  static auto* cache = new std::map<Key, std::unique_ptr<Plan>>();  // never destroyed (see Engine)
  Key key{direction, static_cast<int64_t>(t),
          {g.n, g.c, g.h, g.w, g.f, g.oh, g.ow, g.kh, g.kw, g.groups, g.strides[0], g.strides[1], g.dilation[0],
           g.dilation[1], g.pad_l[0], g.pad_l[1], g.pad_r[0], g.pad_r[1]}};
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = (*cache)[key];
  if (!slot) slot = std::make_unique<Plan>(MakePlan(direction, g, t));
  return *slot;
}

ffi::Error Convolve(ffi::AnyBuffer a, ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> out, int64_t direction,
                    ffi::Span<const int64_t> strides, ffi::Span<const int64_t> padding,
                    ffi::Span<const int64_t> dilation, int64_t groups) {
  using namespace dnnl;
  memory::data_type t;
  switch (a.element_type()) {
    case ffi::DataType::F32: t = memory::data_type::f32; break;
    case ffi::DataType::BF16: t = memory::data_type::bf16; break;
    default: return ffi::Error::InvalidArgument("oneDNN conv: float32 or bfloat16 operands only");
  }
  if (b.element_type() != a.element_type() || out->element_type() != a.element_type())
    return ffi::Error::InvalidArgument("oneDNN conv: operands of one dtype");
  if (strides.size() != 2 || padding.size() != 4 || dilation.size() != 2)
    return ffi::Error::InvalidArgument("oneDNN conv: 2 strides, 4 paddings, 2 dilations");
  if (direction < kForward || direction > kWeightGradient)
    return ffi::Error::InvalidArgument("oneDNN conv: direction 0, 1 or 2");
  // NHWC x, HWIO kernel, NHWC y: which buffer holds which depends on the direction.
  const int kX = direction == kInputGradient ? 2 : 0, kK = direction == kWeightGradient ? 2 : 1;
  const int kY = direction == kForward ? 2 : (direction == kInputGradient ? 0 : 1);
  const ffi::AnyBuffer buffers[3] = {a, b, *out};
  auto x_dims = buffers[kX].dimensions(), k_dims = buffers[kK].dimensions(), y_dims = buffers[kY].dimensions();
  const size_t rank = out->dimensions().size();
  if (rank < 4 || a.dimensions().size() != rank || b.dimensions().size() != rank)
    return ffi::Error::InvalidArgument("oneDNN conv: NHWC / HWIO operands, each with the same leading batch axes");
  const size_t lead = rank - 4;  // vmapped axes (vmap_method="expand_dims"): each 1 (shared) or the output's size
  auto tail = [lead](ffi::Span<const int64_t> dims, int i) { return dims[lead + i]; };
  if (groups < 1 || tail(x_dims, 3) != tail(k_dims, 2) * groups || tail(k_dims, 3) % groups != 0 ||
      tail(y_dims, 0) != tail(x_dims, 0) || tail(y_dims, 3) != tail(k_dims, 3))
    return ffi::Error::InvalidArgument("oneDNN conv: x, kernel and y shapes do not fit together");
  Geometry g{tail(x_dims, 0), tail(x_dims, 3), tail(x_dims, 1), tail(x_dims, 2), tail(k_dims, 3), tail(y_dims, 1),
             tail(y_dims, 2), tail(k_dims, 0), tail(k_dims, 1), groups, {strides[0], strides[1]},
             {dilation[0] - 1, dilation[1] - 1}, {padding[0], padding[2]}, {padding[1], padding[3]}};
  // Member m of the batched call: each buffer's m-th (or, along a size-1 axis, its only) NHWC / HWIO block.
  int64_t members = 1;
  int64_t member_stride[3][8] = {};
  if (lead > 8) return ffi::Error::InvalidArgument("oneDNN conv: at most 8 vmapped axes");
  for (int i = 0; i < 3; ++i) {
    auto dims = buffers[i].dimensions();
    int64_t block = 1;
    for (size_t d = lead; d < rank; ++d) block *= dims[d];
    for (size_t d = lead; d-- > 0;) {
      if (dims[d] != 1 && dims[d] != out->dimensions()[d])
        return ffi::Error::InvalidArgument("oneDNN conv: a vmapped axis of an operand is neither 1 nor the output's");
      member_stride[i][d] = dims[d] == 1 ? 0 : block;
      block *= dims[d];
    }
  }
  for (size_t d = 0; d < lead; ++d) members *= out->dimensions()[d];
  const size_t element_bytes = ffi::ByteWidth(a.element_type());
  try {
    const Plan& plan = CachedPlan(direction, g, t);
    auto& eng = Engine();
    stream s(eng);
    memory scratchpad(memory::desc({static_cast<memory::dim>(plan.scratchpad_bytes)}, memory::data_type::u8,
                                   memory::format_tag::a),
                      eng, ThreadScratchpad(plan.scratchpad_bytes));
    memory w = plan.reorder_weights ? memory(plan.weights_desc, eng) : memory();
    const bool weights_out = direction == kWeightGradient;
    for (int64_t m = 0; m < members; ++m) {
      void* data[3];
      for (int i = 0; i < 3; ++i) {
        int64_t offset = 0, rest = m;
        for (size_t d = lead; d-- > 0;) {
          const int64_t size = out->dimensions()[d];
          offset += (rest % size) * member_stride[i][d];
          rest /= size;
        }
        data[i] = static_cast<char*>(buffers[i].untyped_data()) + offset * element_bytes;
      }
      memory user_w(plan.user_weights_desc, eng, data[kK]);
      memory weights = plan.reorder_weights ? w : user_w;
      if (plan.reorder_weights && !weights_out)
        plan.weights_reorder.execute(s, {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, weights}});
      plan.primitive.execute(s, {{direction == kInputGradient ? DNNL_ARG_DIFF_SRC : DNNL_ARG_SRC,
                                  memory(g.Src(t), eng, data[kX])},
                                 {weights_out ? DNNL_ARG_DIFF_WEIGHTS : DNNL_ARG_WEIGHTS, weights},
                                 {direction == kForward ? DNNL_ARG_DST : DNNL_ARG_DIFF_DST,
                                  memory(g.Dst(t), eng, data[kY])},
                                 {DNNL_ARG_SCRATCHPAD, scratchpad}});
      if (plan.reorder_weights && weights_out)
        plan.weights_reorder.execute(s, {{DNNL_ARG_FROM, weights}, {DNNL_ARG_TO, user_w}});
    }
    s.wait();
  } catch (const std::exception& e) {
    return ffi::Error::Internal(std::string("oneDNN conv: ") + e.what());
  }
  return ffi::Error::Success();
}

}  // namespace

// Whether this CPU runs oneDNN's bfloat16 convolutions (AVX512-BF16 / AMX / AVX2-VNNI-2 class hosts).
extern "C" int CnnjaxOnednnBf16Supported() {
  try {
    Geometry g{1, 8, 8, 8, 8, 8, 8, 3, 3, 1, {1, 1}, {0, 0}, {1, 1}, {1, 1}};
    MakePlan(kWeightGradient, g, dnnl::memory::data_type::bf16);
    return 1;
  } catch (const std::exception&) {
    return 0;
  }
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnjaxOnednnConv, Convolve,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("direction")
                                  .Attr<ffi::Span<const int64_t>>("strides")
                                  .Attr<ffi::Span<const int64_t>>("padding")
                                  .Attr<ffi::Span<const int64_t>>("dilation")
                                  .Attr<int64_t>("groups"));
