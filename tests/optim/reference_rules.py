"""Independent reference implementations of the SAM-family update rules.

Written from ``docs/algorithms.md`` (the spec) and the interface notes for
the details the spec leaves open. Nothing here imports or mirrors ``pipeline.optim``:
the point is to have a second, plainly written implementation to compare against.

Everything works on Python lists of tensors (one per parameter, in param_groups
order) with explicit loops, and is meant to be obviously correct rather than fast.
The base step uses a real ``torch.optim.SGD`` built on the reference's own copy of
the model.

Structure:

* :class:`Oracle` owns the reference model copy, the loss function and the base
  optimizer. It evaluates losses/gradients at arbitrary points and applies the
  spec's BatchNorm rule: the clean pass updates running statistics; every extra pass
  and probe runs in training mode (batch statistics) and leaves all buffers exactly
  as they were.
* One ``*Rule`` class per variant. ``rule.update(oracle, theta, loss0, g, batch, rho)``
  receives the clean pass result and returns ``(g_tilde, d_hat)``: the update gradient
  handed to the base optimizer and the unit direction with ``e = rho * d_hat``.
* :class:`Reference` (a variant alone) and :class:`LETSReference` (LETS over a
  variant) drive one optimizer step each.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-12


# --------------------------------------------------------------------------- helpers
def norm(ts):
    """Global L2 norm over a list of tensors (one scalar)."""
    total = torch.zeros((), dtype=torch.float64)
    for t in ts:
        total = total + (t.to(torch.float64) ** 2).sum()
    return total.sqrt()


def dot(a, b):
    total = torch.zeros((), dtype=torch.float64)
    for x, y in zip(a, b, strict=False):
        total = total + (x.to(torch.float64) * y.to(torch.float64)).sum()
    return total


def add(a, b):
    return [x + y for x, y in zip(a, b, strict=False)]


def sub(a, b):
    return [x - y for x, y in zip(a, b, strict=False)]


def scale(a, c):
    return [x * c for x in a]


def clone(a):
    return [x.detach().clone() for x in a]


# --------------------------------------------------------------------------- oracle
class Oracle:
    """The reference's own model copy, loss function and base optimizer."""

    def __init__(self, model, loss_fn, base):
        self.model = model
        self.loss_fn = loss_fn  # loss_fn(model, batch) -> scalar tensor
        self.base = base
        self.params = [p for group in base.param_groups for p in group["params"]]

    def lrs(self):
        return [group["lr"] for group in self.base.param_groups for _ in group["params"]]

    def point(self):
        return clone(self.params)

    def _set(self, point):
        with torch.no_grad():
            for p, v in zip(self.params, point, strict=False):
                p.copy_(v)

    def _evaluate(self, point, batch, want_grad, update_running_stats):
        self._set(point)
        self.model.train()
        saved = None
        if not update_running_stats:
            saved = [b.detach().clone() for b in self.model.buffers()]
        if want_grad:
            with torch.enable_grad():
                loss = self.loss_fn(self.model, batch)
                grads = torch.autograd.grad(loss, self.params, allow_unused=True)
            grads = [
                torch.zeros_like(p) if gr is None else gr.detach().clone()
                for p, gr in zip(self.params, grads, strict=False)
            ]
        else:
            with torch.no_grad():
                loss = self.loss_fn(self.model, batch)
            grads = None
        if saved is not None:
            with torch.no_grad():
                for b, s in zip(self.model.buffers(), saved, strict=False):
                    b.copy_(s)
        return loss.detach(), grads

    def clean_pass(self, batch):
        """Pass at the current parameters; the only pass that updates running stats."""
        return self._evaluate(self.point(), batch, True, True)

    def extra_pass(self, point, batch):
        """Forward+backward at ``point``; batch statistics, buffers untouched."""
        return self._evaluate(point, batch, True, False)

    def probe(self, point, batch):
        """Forward only at ``point``; batch statistics, buffers untouched."""
        return self._evaluate(point, batch, False, False)[0]

    def base_step(self, theta, g_tilde):
        """Restore theta, write g_tilde into .grad, run the base optimizer."""
        self._set(theta)
        for p, gr in zip(self.params, g_tilde, strict=False):
            p.grad = gr.detach().clone()
        self.base.step()
        for p in self.params:
            p.grad = None


# --------------------------------------------------------------------------- rules
class SAMRule:
    """SAM: e = rho * g / (||g|| + eps); g_tilde = grad at theta + e."""

    def __init__(self, rho=0.05):
        self.rho = rho

    def update(self, oracle, theta, loss0, g, batch, rho):
        g_norm = norm(g)
        d_hat = [gi / (g_norm + EPS) for gi in g]
        e = scale(d_hat, rho)
        _, g_tilde = oracle.extra_pass(add(theta, e), batch)
        return g_tilde, d_hat


class ASAMRule:
    """ASAM: T = |theta| + eta; e = rho * T^2 g / (||T g|| + eps)."""

    def __init__(self, rho=0.5, eta=0.0):
        self.rho = rho
        self.eta = eta

    def update(self, oracle, theta, loss0, g, batch, rho):
        T = [th.abs() + self.eta for th in theta]
        Tg = [t * gi for t, gi in zip(T, g, strict=False)]
        denom = norm(Tg) + EPS
        d_hat = [t * t * gi / denom for t, gi in zip(T, g, strict=False)]
        _, g_tilde = oracle.extra_pass(add(theta, scale(d_hat, rho)), batch)
        return g_tilde, d_hat


class MPSAMRule:
    """Multi-perturbation SAM, with the interface's draw order."""

    def __init__(self, rho=0.05, n_perturbations=5, strategy="mixed", adaptive=False, generator=None):
        assert generator is not None, "the reference needs an explicit generator"
        assert strategy in ("gradient", "random", "mixed")
        self.rho = rho
        self.n = n_perturbations
        self.strategy = strategy
        self.adaptive = adaptive
        self.gen = generator
        self.all_zero_history = []  # per step: were all adaptive weights zero?
        self.weights_history = []

    def _eps_r(self, theta, rho):
        z = []
        for th in theta:  # one draw per parameter, param_groups order
            zi = torch.randn(th.shape, generator=self.gen, dtype=th.dtype, device=self.gen.device)
            z.append(zi.to(th.device))
        z_norm = norm(z)  # no eps, as in the spec
        return [rho * zi / z_norm for zi in z]

    def update(self, oracle, theta, loss0, g, batch, rho):
        g_norm = norm(g)
        eps_g = [rho * gi / (g_norm + EPS) for gi in g]

        def eps_s(s):
            eps_r = self._eps_r(theta, rho)  # fresh, drawn when eps_s is built
            v = [a + s * b for a, b in zip(eps_g, eps_r, strict=False)]
            v_norm = norm(v)  # no eps
            return [rho * vi / v_norm for vi in v]

        # Build every perturbation before any perturbed pass, in list order.
        perturbations = []
        for i in range(self.n):
            if self.strategy == "gradient":
                perturbations.append(eps_g if i == 0 else eps_s(0.1 * i))
            elif self.strategy == "random":
                perturbations.append(self._eps_r(theta, rho))
            else:  # mixed
                if i == 0:
                    perturbations.append(eps_g)
                elif i % 2 == 1:
                    perturbations.append(self._eps_r(theta, rho))
                else:
                    perturbations.append(eps_s(0.1))

        losses, grads = [], []
        for e in perturbations:
            loss_i, g_i = oracle.extra_pass(add(theta, e), batch)
            losses.append(float(loss_i))
            grads.append(g_i)

        all_zero = False
        if self.adaptive:
            c = [max(0.0, li - float(loss0)) for li in losses]
            total = sum(c)
            if total == 0.0:
                all_zero = True
                weights = [1.0 / self.n] * self.n
            else:
                weights = [ci / total for ci in c]
        else:
            weights = [1.0 / self.n] * self.n
        self.all_zero_history.append(all_zero)
        self.weights_history.append(weights)

        g_tilde = [torch.zeros_like(th) for th in theta]
        for w, g_i in zip(weights, grads, strict=False):
            g_tilde = [acc + w * gi for acc, gi in zip(g_tilde, g_i, strict=False)]
        # The spec's d_hat for MP-SAM: the weighted mean of the perturbations, with the update's weights, / rho.
        e_mean = [torch.zeros_like(th) for th in theta]
        for w, e in zip(weights, perturbations, strict=False):
            e_mean = [acc + w * ei for acc, ei in zip(e_mean, e, strict=False)]
        d_hat = [x / rho for x in e_mean]
        return g_tilde, d_hat


class FSAMRule:
    """Friendly SAM: d = g - sigma*m (m from before this step), then m <- EMA."""

    def __init__(self, rho=0.05, sigma=1.0, lmbda=0.9, adaptive=False):
        self.rho = rho
        self.sigma = sigma
        self.lmbda = lmbda
        self.adaptive = adaptive
        self.m = None

    def update(self, oracle, theta, loss0, g, batch, rho):
        if self.m is None:
            d = clone(g)
            self.m = clone(g)
        else:
            d = [gi - self.sigma * mi for gi, mi in zip(g, self.m, strict=False)]
            self.m = [self.lmbda * mi + (1.0 - self.lmbda) * gi for mi, gi in zip(self.m, g, strict=False)]
        if self.adaptive:
            T = [th.abs() for th in theta]  # ASAM scaling with eta = 0
            Td = [t * di for t, di in zip(T, d, strict=False)]
            denom = norm(Td) + EPS
            d_hat = [t * t * di / denom for t, di in zip(T, d, strict=False)]
        else:
            denom = norm(d) + EPS
            d_hat = [di / denom for di in d]
        _, g_tilde = oracle.extra_pass(add(theta, scale(d_hat, rho)), batch)
        return g_tilde, d_hat


class XSAMRule:
    """Explicit SAM: k ascent steps, slerp between v0 and v1, alpha grid search."""

    def __init__(self, rho=0.15, rho_max=None, steps=1, dynamic=True, alpha=1.0, alpha_grid=None, search_every=1):
        self.rho = rho
        self.rho_max = rho_max
        self.k = steps
        self.dynamic = dynamic
        self.alpha = alpha
        self.grid = list(alpha_grid) if alpha_grid is not None else [i / 10 for i in range(21)]
        self.search_every = search_every
        self.t = 0
        self.alpha_history = []

    def update(self, oracle, theta, loss0, g, batch, rho):
        point = clone(theta)
        g_s = g  # pass 1 is the clean pass
        for s in range(self.k):
            if s > 0:
                _, g_s = oracle.extra_pass(point, batch)
            g_s_norm = norm(g_s)
            point = [p + (rho / self.k) * gi / (g_s_norm + EPS) for p, gi in zip(point, g_s, strict=False)]
        _, g_k = oracle.extra_pass(point, batch)  # pass k+1

        diff = sub(point, theta)
        diff_norm = norm(diff)
        v0 = [x / (diff_norm + EPS) for x in diff]
        g_k_norm = norm(g_k)
        v1 = [x / (g_k_norm + EPS) for x in g_k]
        angle = torch.arccos(torch.clamp(dot(v0, v1), -1.0, 1.0))
        sin_angle = torch.sin(angle)

        def direction(alpha):
            if sin_angle < 1e-8:
                return [(a + b) / 2 for a, b in zip(v0, v1, strict=False)]
            c0 = torch.sin((1 - alpha) * angle)
            c1 = torch.sin(alpha * angle)
            return [(c0 * a + c1 * b) / sin_angle for a, b in zip(v0, v1, strict=False)]

        if self.dynamic and self.t % self.search_every == 0:
            rho_max = self.rho_max if self.rho_max is not None else 2 * rho
            best_alpha, best_loss = None, None
            for alpha in self.grid:
                probe_point = [th + rho_max * si for th, si in zip(theta, direction(alpha), strict=False)]
                loss = float(oracle.probe(probe_point, batch))
                if best_loss is None or loss > best_loss:  # first maximiser wins ties
                    best_alpha, best_loss = alpha, loss
            self.alpha = best_alpha
        self.alpha_history.append(self.alpha)
        self.t += 1

        g_tilde = [g_k_norm * si for si in direction(self.alpha)]
        d_hat = [x / rho for x in diff]
        return g_tilde, d_hat


RULES = {
    "sam": SAMRule,
    "asam": ASAMRule,
    "mpsam": MPSAMRule,
    "fsam": FSAMRule,
    "xsam": XSAMRule,
}


# --------------------------------------------------------------------------- drivers
class Reference:
    """A SAM-family variant alone: clean pass, the rule, restore, base step."""

    def __init__(self, oracle, rule):
        self.oracle = oracle
        self.rule = rule

    def step(self, batch, val_batch=None):
        loss0, g = self.oracle.clean_pass(batch)
        theta = self.oracle.point()
        g_tilde, _ = self.rule.update(self.oracle, theta, loss0, g, batch, self.rule.rho)
        self.oracle.base_step(theta, g_tilde)
        return loss0


class LETSReference:
    """LETS over a variant: log-space Adam on rho with the stored sensitivity u."""

    BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-12

    def __init__(self, oracle, rule, rho_lr=0.01, rho_min=1e-4, rho_max=None, hessian="diagonal", update_every=1):
        assert hessian in ("diagonal", "finite_difference", "identity")
        self.oracle = oracle
        self.rule = rule
        self.rho = float(rule.rho)
        self.log_rho = math.log(self.rho)
        self.rho_lr = rho_lr
        self.rho_min = rho_min
        self.rho_max = rho_max if rho_max is not None else 10.0 * self.rho
        self.hessian = hessian
        self.update_every = update_every
        self.m = 0.0
        self.v = 0.0
        self.n_updates = 0
        self.u = None
        self.t = 0
        self.h_history = []

    def step(self, batch, val_batch):
        loss_tr, g = self.oracle.clean_pass(batch)
        theta = self.oracle.point()

        if self.t > 0 and self.t % self.update_every == 0:
            loss_val, g_val = self.oracle.extra_pass(theta, val_batch)
            h = float(loss_val - loss_tr) * float(dot(sub(g_val, g), self.u))
            self.h_history.append(h)
            grad = h * self.rho  # dF/dlog(rho), rho before the update
            self.n_updates += 1
            self.m = self.BETA1 * self.m + (1 - self.BETA1) * grad
            self.v = self.BETA2 * self.v + (1 - self.BETA2) * grad * grad
            m_hat = self.m / (1 - self.BETA1**self.n_updates)
            v_hat = self.v / (1 - self.BETA2**self.n_updates)
            self.log_rho = self.log_rho - self.rho_lr * m_hat / (math.sqrt(v_hat) + self.ADAM_EPS)
            self.rho = min(max(math.exp(self.log_rho), self.rho_min), self.rho_max)
            self.log_rho = math.log(self.rho)

        g_tilde, d_hat = self.rule.update(self.oracle, theta, loss_tr, g, batch, self.rho)

        u = []
        for lr, gt, d, gi in zip(self.oracle.lrs(), g_tilde, d_hat, g, strict=False):
            if self.hessian == "diagonal":
                u.append(-lr * (gt * gt) * d)
            elif self.hessian == "identity":
                u.append(-lr * d)
            else:  # finite_difference
                u.append(-lr * (gt - gi) / self.rho)
        self.u = u

        self.oracle.base_step(theta, g_tilde)
        self.t += 1
        return loss_tr
