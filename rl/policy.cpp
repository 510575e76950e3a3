// The Bernoulli selection policy: sampling, log-probabilities, entropy, KL and replay (see rl/policy.h).
#include "rl/policy.h"

#include <cmath>

#include "core/rng.h"

namespace sra::rl {

uint64_t mix_key(uint64_t a, uint64_t b) {
  uint64_t z = a ^ (0x9e3779b97f4a7c15ull * (b + 1));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double decision_uniform(uint64_t key, uint64_t sequence, int64_t position, size_t sra_layer,
                        size_t n_sra_layers) {
  const uint64_t counter = uint64_t(position) * uint64_t(n_sra_layers) + uint64_t(sra_layer);
  std::array<uint32_t, 4> w = philox4x32(counter, sequence, key);
  return uniform_open_f64(w[0], w[1]);
}

double decision_probability(const SelectionContext& ctx) {
  return 1.0 / (1.0 + std::exp(-(ctx.score - ctx.threshold) / ctx.temperature));
}

SelectionFn sampling_policy(uint64_t key, size_t n_sra_layers) {
  return [key, n_sra_layers](const SelectionContext& ctx) {
    SRA_ASSERT(ctx.sra_layer < n_sra_layers, "SRA layer ", ctx.sra_layer, " of ", n_sra_layers);
    return decision_uniform(key, ctx.sequence, ctx.position, ctx.sra_layer, n_sra_layers) <
           decision_probability(ctx);
  };
}

void set_router_temperature(Transformer& m, double tau) {
  SRA_CHECK(tau > 0, "[rl] the policy temperature must be > 0, got ", tau);
  for (Router* r : m.sra_routers()) r->config().temperature = tau;
}

Tensor log_sigmoid(const Tensor& x) {
  Tensor neg_part = relu(neg(x));                // max(−x, 0)
  Tensor abs_x = add(relu(x), neg_part);         // |x|
  Tensor tail = log(add(exp(neg(abs_x)), 1.0));  // log(1 + e^{−|x|})
  return neg(add(neg_part, tail));               // −max(−x, 0) − log(1 + e^{−|x|})
}

Tensor bernoulli_log_prob(const Tensor& x, const Tensor& z) {
  SRA_CHECK(z.dtype() == DType::u8 && z.shape() == x.shape(), "[rl] decisions must be u8 of shape ",
            shape_str(x.shape()), ", got ", shape_str(z.shape()), " ", dtype_name(z.dtype()));
  Tensor not_z;
  {
    NoGradGuard g;
    not_z = add(mul(cast(z, x.dtype()), -1.0), 1.0);  // 1 − z
  }
  return sum(sub(log_sigmoid(x), mul(not_z, x)));
}

Tensor bernoulli_entropy(const Tensor& x) {
  Tensor one_minus_p = sigmoid(neg(x));
  return sum(add(neg(log_sigmoid(x)), mul(one_minus_p, x)));
}

Tensor bernoulli_expected_count(const Tensor& x) {
  return sum(sigmoid(x));
}

Tensor bernoulli_kl(const Tensor& x, const Tensor& x_ref) {
  SRA_CHECK(x.shape() == x_ref.shape(), "[rl] KL: shapes ", shape_str(x.shape()), " and ",
            shape_str(x_ref.shape()), " differ");
  Tensor r = x_ref.detach();
  Tensor log_q;
  {
    NoGradGuard g;
    log_q = log_sigmoid(r);
  }
  Tensor one_minus_p = sigmoid(neg(x));
  return sum(sub(sub(log_sigmoid(x), log_q), mul(one_minus_p, sub(x, r))));
}

std::vector<int64_t> fed_tokens(const SequenceResult& r) {
  std::vector<int64_t> ids;
  ids.reserve(r.audit.size());
  for (const TokenAudit& a : r.audit) ids.push_back(a.token);
  return ids;
}

std::vector<Tensor> rollout_decisions(const SequenceResult& r, Device device) {
  const size_t T = r.audit.size();
  SRA_CHECK(T > 0, "[rl] a rollout without fed tokens");
  const size_t L = r.audit[0].critical.size();
  std::vector<uint8_t> z(L * T);  // (L, T): one host-to-device copy
  for (size_t t = 0; t < T; ++t) {
    SRA_ASSERT(r.audit[t].critical.size() == L, "audit entry ", t);
    for (size_t l = 0; l < L; ++l) z[l * T + t] = r.audit[t].critical[l];
  }
  std::vector<Tensor> out;
  if (L == 0) return out;
  const Tensor all = Tensor::from_vector(z, {int64_t(L), int64_t(T)}).to(device);
  for (size_t l = 0; l < L; ++l) out.push_back(all.narrow(0, int64_t(l), 1));  // (1, T)
  return out;
}

std::pair<int64_t, int64_t> decision_counts(const SequenceResult& r) {
  int64_t selected = 0, total = 0;
  for (const TokenAudit& a : r.audit) {
    for (uint8_t z : a.critical) selected += z != 0;
    total += int64_t(a.critical.size());
  }
  return {selected, total};
}

namespace {

// (s − θ)/τ for each SRA layer's scores; θ stays on the device (the same arithmetic as Router::select's
// training branch: s − θ rounded to the scores' dtype, no host read).
std::vector<Tensor> policy_logits(Transformer& m, const ForwardOutput& out, double tau) {
  std::vector<Router*> routers = m.sra_routers();
  SRA_ASSERT(routers.size() == out.selections.size(), routers.size(), " routers, ", out.selections.size(),
             " selections");
  std::vector<Tensor> xs;
  for (size_t l = 0; l < routers.size(); ++l) {
    const Tensor& s = out.selections[l].scores;
    Tensor theta;
    {
      NoGradGuard g;
      theta = cast(routers[l]->threshold_tensor(), s.dtype());
    }
    xs.push_back(mul(sub(s, theta), 1.0 / tau));
  }
  return xs;
}

Tensor add_or_set(const Tensor& acc, const Tensor& v) {
  return acc.defined() ? add(acc, v) : v;
}

}  // namespace

Replay replay_rollout(Transformer& policy, Transformer* ref, const SequenceResult& r,
                      const ReplayOptions& o) {
  SRA_CHECK(o.tau > 0, "[rl] the policy temperature must be > 0, got ", o.tau);
  const std::vector<int64_t> ids = fed_tokens(r);
  const int64_t T = int64_t(ids.size());
  const Device device = model_device(policy);
  SRA_CHECK(!ref || model_device(*ref) == device, "[rl] the policy is on ", device.str(),
            ", the reference on ", ref ? model_device(*ref).str() : "");
  const std::vector<Tensor> forced = rollout_decisions(r, device);
  SRA_CHECK(forced.size() == policy.sra_routers().size(), "[rl] the rollout has decisions for ",
            forced.size(), " SRA layers, the model has ", policy.sra_routers().size());
  const Tensor input = Tensor::from_vector(ids, {1, T}).to(device);

  Replay rp;
  ForwardOutput out = policy.run(input, Tensor(), &forced);
  rp.logits = out.logits;
  std::vector<Tensor> xs = policy_logits(policy, out, o.tau);
  std::vector<Tensor> xs_ref;
  if (ref) {
    NoGradGuard g;
    ForwardOutput ro = ref->run(input, Tensor(), &forced);
    xs_ref = policy_logits(*ref, ro, o.tau);
  }
  for (size_t l = 0; l < xs.size(); ++l) {
    rp.scores.push_back(out.selections[l].scores);
    rp.log_prob = add_or_set(rp.log_prob, bernoulli_log_prob(xs[l], forced[l]));
    rp.entropy = add_or_set(rp.entropy, bernoulli_entropy(xs[l]));
    rp.expected_selected = add_or_set(rp.expected_selected, bernoulli_expected_count(xs[l]));
    if (ref) rp.kl = add_or_set(rp.kl, bernoulli_kl(xs[l], xs_ref[l]));
    rp.decisions += T;
  }
  if (o.answer_log_prob && !r.ids.empty()) {
    SRA_CHECK(o.answer_temperature > 0, "[rl] answer log-probs need a sampling temperature > 0");
    const int64_t P = r.prompt_length, n = int64_t(r.ids.size()), V = out.logits.size(2);
    SRA_CHECK(T == P + n - 1, "[rl] the audit has ", T, " fed tokens, expected prompt ", P, " + generated ",
              n, " - 1");
    Tensor lg = mul(out.logits.slice(1, P - 1, T).reshape({n, V}), 1.0 / o.answer_temperature);
    Tensor lp = gather(log_softmax(lg, -1), 1, Tensor::from_vector(r.ids, {n, 1}));
    rp.log_prob = add_or_set(rp.log_prob, sum(lp));
  }
  if (!rp.log_prob.defined()) rp.log_prob = Tensor::zeros({}, out.logits.dtype());
  if (!rp.entropy.defined()) rp.entropy = Tensor::zeros({}, out.logits.dtype());
  if (!rp.expected_selected.defined()) rp.expected_selected = Tensor::zeros({}, out.logits.dtype());
  return rp;
}

}  // namespace sra::rl
