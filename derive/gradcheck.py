"""Central differences against the generated backward pass, entry by entry, in float64.

ReLU-like kinks are kept away from rather than tolerated: if a kinked function's input lies
within `margin` of the kink, where a step of ±eps could cross it, fresh values are drawn.
The tolerance is never loosened.
"""

from dataclasses import dataclass

import numpy as np

from .codegen import compile_numpy
from .rules import Kind


@dataclass
class GradcheckReport:
    errors: dict        # parameter -> largest relative error over its entries
    tolerance: float
    eps: float
    seed: int           # the seed whose values were checked (after any redraws)

    @property
    def ok(self):
        return all(e < self.tolerance for e in self.errors.values())

    def __str__(self):
        width = max(map(len, self.errors), default=4)
        rows = [f"{'param':<{width}}  max rel. error  ok"]
        rows += [f"{name:<{width}}  {err:14.3e}  {'yes' if err < self.tolerance else 'NO'}"
                 for name, err in self.errors.items()]
        rows.append(f"{'all ok' if self.ok else 'FAILED'} (tolerance {self.tolerance:g}, "
                    f"eps {self.eps:g}, seed {self.seed})")
        return "\n".join(rows)


def relative_error(a, n, tiny=1e-12):
    """|a − n| / max(|a|, |n|, tiny), entrywise."""
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), tiny)


def random_inputs(der, dims, rng):
    """Inputs drawn from N(0, 1); the targets of softmax_cross_entropy are one-hot columns."""
    inputs = {name: rng.normal(size=_size(der.shapes[name], dims)) for name in der.inputs}
    for node in der.nodes.values():
        if node.kind is Kind.SOFTMAX_CROSS_ENTROPY:
            target = node.inputs[1].name
            rows, cols = inputs[target].shape
            inputs[target] = np.eye(rows)[:, rng.integers(rows, size=cols)]
    return inputs


def gradcheck(der, dims, seed=0, inputs=None, eps=6e-6, tolerance=1e-6, margin=1e-3,
              redraws=20):
    """Compare `backward` with central differences for every entry of every parameter.

    eps ≈ ε_mach^(1/3) balances the truncation error of central differences against roundoff
    in float64. Parameters come from the module's `init_params(dims, seed)`, inputs from
    N(0, 1) unless given.
    """
    module = compile_numpy(der)
    for attempt in range(redraws + 1):
        rng = np.random.default_rng([seed, attempt])
        params = module.init_params(dims, seed=seed + attempt)
        data = inputs if inputs is not None else random_inputs(der, dims, rng)
        loss, cache = module.forward(params, data)
        if _distance_to_kinks(der, cache) > margin:
            break
    else:
        raise ValueError(f"gradcheck: a kinked function's input stayed within {margin} of its "
                         f"kink in {redraws + 1} draws; pass inputs away from it")
    grads = module.backward(params, cache)
    errors = {}
    for name, value in params.items():
        numeric = np.empty_like(value)
        for index in np.ndindex(value.shape):
            saved = value[index]
            value[index] = saved + eps
            up, _ = module.forward(params, data)
            value[index] = saved - eps
            down, _ = module.forward(params, data)
            value[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        errors[name] = float(np.max(relative_error(grads[name], numeric)))
    return GradcheckReport(errors, tolerance, eps, seed + attempt)


def _distance_to_kinks(der, cache):
    names = {node: name for name, node in der.nodes.items()}
    distance = np.inf
    for node in der.graph.nodes:
        if node.kind is Kind.APPLY and node.attrs["function"].kink:
            value = cache.get(names.get(node.inputs[0]))
            if value is None:
                raise ValueError(f"gradcheck: the input of {node} is not cached")
            distance = min(distance, float(np.min(np.abs(value))))
    return distance


def _size(shape, dims):
    return tuple(int(d) if d.is_Integer else int(dims[str(d)]) for d in shape)
