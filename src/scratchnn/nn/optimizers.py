"""Optimisers: rules that turn gradients into parameter updates.

Each works on the model's flat parameter and gradient vectors (see
``Sequential``), updating the parameters in place. Weight decay applies to the
first ``n_decayed`` entries only: the weights, never the biases.

The updates are written as sequences of in-place NumPy operations on one
scratch buffer: that avoids allocating a temporary the size of the whole model
for every ``+`` and ``*`` on every step. Each method's docstring gives the
textbook formula it computes. They compute with the array module ``xp`` of
the model (numpy, or cupy on a GPU; the trainer sets it, see
:mod:`scratchnn.nn.backend`); on a GPU, Adam's update is one fused kernel.
"""

import math
from typing import Any

import numpy as np

from ..parameters import check as check_setting
from . import backend

# State below this magnitude is set to exactly 0 every FLUSH_EVERY steps. A
# parameter whose gradient is 0 for a while (a pixel that is always blank) has
# its momentum multiplied by beta at every step until it sinks into float32's
# subnormal range, where arithmetic is many times slower on x86 CPUs. Flushed
# values are far too small to move any weight (< 1e-30 * lr per step).
FLUSH_BELOW = 1e-30
FLUSH_EVERY = 100


class Optimizer(backend.ComputesOnDevice):
    """Base class. ``lr`` may be changed between steps (learning-rate schedules).

    Parameters
    ----------
    lr : float
        The learning rate, > 0.
    weight_decay : float
        Weight decay (>= 0) on the first ``n_decayed`` parameters (the weights);
        0 for none.

    Raises
    ------
    ConfigError
        If ``lr`` or ``weight_decay`` is out of its range.
    """

    # The array module of the parameters (cupy on a GPU); the trainer sets it.
    xp: Any = np

    def __init__(self, lr, weight_decay=0.0):
        check_setting("lr", lr)
        check_setting("weight_decay", weight_decay)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.t = 0  # steps taken so far

    def step(self, params, grads, n_decayed=None):
        """Update ``params`` in place from ``grads``: one optimisation step.

        Parameters
        ----------
        params : numpy.ndarray or cupy.ndarray
            The model's flat parameter vector (``Sequential.params``), on the
            device of the optimiser's ``xp``.
        grads : numpy.ndarray or cupy.ndarray
            The matching gradients (``Sequential.grads``). Used as scratch space
            (coupled L2 adds ``wd * p`` to it): it is the model's gradient buffer,
            refilled by the next backward pass.
        n_decayed : int, optional
            Weight decay applies to ``params[:n_decayed]`` (``Sequential.n_decayed``:
            the weights, never the biases); default: all of them.
        """
        n_decayed = params.size if n_decayed is None else n_decayed
        self.t += 1
        self._update(params, grads, n_decayed)
        if self.t % FLUSH_EVERY == 0:
            self._flush_tiny_state()

    def _flush_tiny_state(self):
        for name in self.state_slots:
            slot = getattr(self, name, None)
            if slot is not None:
                self.xp.copyto(slot, 0, where=self.xp.abs(slot) < FLUSH_BELOW)

    def _l2_into(self, grads, params, n_decayed):
        """Coupled L2: the gradient of ``(wd / 2) * ||W||^2`` is ``wd * W``."""
        if self.weight_decay:
            g = grads[:n_decayed]
            g += self.weight_decay * params[:n_decayed]

    def _scratch(self, params, name="_tmp"):
        buf = getattr(self, name, None)
        if buf is None or buf.shape != params.shape or buf.dtype != params.dtype:
            buf = self.xp.empty_like(params)
            setattr(self, name, buf)
        return buf

    def _slots(self, params, *names):
        """Per-parameter state vectors (momentum, moments), created as zeros."""
        out = []
        for name in names:
            slot = getattr(self, name, None)
            if slot is None:
                slot = self.xp.zeros_like(params)
                setattr(self, name, slot)
            out.append(slot)
        return out

    state_slots: tuple[str, ...] = ()

    def state_dict(self):
        """Everything needed to resume: step count, lr and the state vectors.

        Returns
        -------
        dict
            ``t`` (steps taken), ``lr`` and each state vector that exists so far
            (e.g. ``velocity``, ``m_sum``, ``v_sum``; none before the first step), as
            NumPy copies on the host whatever the device.
        """
        state = {"t": self.t, "lr": self.lr}
        for name in self.state_slots:
            slot = getattr(self, name, None)
            if slot is not None:
                state[name] = backend.to_numpy(slot).copy()
        return state

    def load_state_dict(self, state):
        """Restore a state returned by :meth:`state_dict` (resuming a run).

        Parameters
        ----------
        state : dict
            As :meth:`state_dict` returns it, from either device; the state vectors
            are copied to the optimiser's device, and one it lacks starts again at 0.
        """
        self.t = int(state["t"])
        self.lr = float(state["lr"])
        for name in self.state_slots:
            setattr(self, name, self.xp.array(backend.to_numpy(state[name])) if name in state else None)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Plain:     ``p <- p - lr * g``
    Momentum:  ``v <- mu * v + g``;  ``p <- p - lr * v``
    Nesterov:  ``v <- mu * v + g``;  ``p <- p - lr * (g + mu * v)``
    with ``g = dL/dp + weight_decay * p`` for weights (L2).

    Parameters
    ----------
    lr : float
        The learning rate, > 0.
    momentum : float
        ``mu``, in [0, 1); 0 for plain SGD.
    nesterov : bool
        Nesterov momentum (needs ``momentum`` > 0).
    weight_decay : float
        L2 coefficient (>= 0) for the weights.

    Raises
    ------
    ConfigError
        If ``lr``, ``momentum`` or ``weight_decay`` is out of its range.
    ValueError
        If ``nesterov`` is set with ``momentum`` 0.
    """

    state_slots = ("velocity",)

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        check_setting("momentum", momentum)
        if nesterov and momentum == 0.0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, params, grads, n_decayed):
        self._l2_into(grads, params, n_decayed)
        tmp = self._scratch(params)
        if self.momentum == 0.0:
            self.xp.multiply(grads, self.lr, out=tmp)
            params -= tmp
            return
        (v,) = self._slots(params, "velocity")
        v *= self.momentum
        v += grads
        if self.nesterov:
            self.xp.multiply(v, self.momentum, out=tmp)
            tmp += grads
        else:
            tmp[...] = v
        tmp *= self.lr
        params -= tmp


class RMSProp(Optimizer):
    """RMSProp (Hinton): divide the step by a running RMS of recent gradients.

    ``s <- rho * s + (1 - rho) * g^2``;  ``p <- p - lr * g / (sqrt(s) + eps)``

    with ``g = dL/dp + weight_decay * p`` for weights (L2).

    Parameters
    ----------
    lr : float
        The learning rate, > 0.
    rho : float
        The decay of the running mean of squared gradients, in [0, 1).
    eps : float
        Keeps the division finite, >= 0.
    weight_decay : float
        L2 coefficient (>= 0) for the weights.

    Raises
    ------
    ConfigError
        If ``lr`` or ``weight_decay`` is out of its range.
    ValueError
        If ``rho`` is not in [0, 1) or ``eps`` is negative.
    """

    state_slots = ("square_avg",)

    def __init__(self, lr=1e-3, rho=0.9, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        if not 0.0 <= rho < 1.0 or eps < 0:
            raise ValueError(f"RMSProp needs rho in [0, 1) and eps >= 0, got {rho}, {eps}")
        self.rho = float(rho)
        self.eps = float(eps)

    def _update(self, params, grads, n_decayed):
        self._l2_into(grads, params, n_decayed)
        (s,) = self._slots(params, "square_avg")
        tmp = self._scratch(params)
        xp = self.xp
        xp.multiply(grads, grads, out=tmp)
        s *= self.rho
        tmp *= 1.0 - self.rho
        s += tmp
        xp.sqrt(s, out=tmp)
        tmp += self.eps
        xp.divide(grads, tmp, out=tmp)
        tmp *= self.lr
        params -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction.

    ``m <- b1 * m + (1 - b1) * g``          (running mean of gradients)
    ``v <- b2 * v + (1 - b2) * g^2``        (running mean of squared gradients)
    ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``  (undo the bias towards 0)
    ``p <- p - lr * m_hat / (sqrt(v_hat) + eps)``

    ``weight_decay`` here is coupled L2 (added to ``g``); see :class:`AdamW` for
    the decoupled form.

    For speed the state vectors are kept without their ``(1 - b)`` factors,
    ``m_sum = m / (1 - b1)`` and ``v_sum = v / (1 - b2)``: then each is updated in
    two passes (``m_sum <- b1 * m_sum + g``) and every constant folds into two
    scalars applied once. :attr:`m` and :attr:`v` give the textbook values.

    Parameters
    ----------
    lr : float
        The learning rate, > 0.
    beta1, beta2 : float
        ``b1`` and ``b2``, the decays of the two running means, each in [0, 1).
    eps : float
        Keeps the division finite.
    weight_decay : float
        Coupled L2 coefficient (>= 0) for the weights.

    Raises
    ------
    ConfigError
        If ``lr`` or ``weight_decay`` is out of its range.
    ValueError
        If ``beta1`` or ``beta2`` is not in [0, 1).
    """

    state_slots = ("m_sum", "v_sum")

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {beta1}, {beta2}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    @property
    def m(self):
        """The textbook first moment (running mean of the gradients); None before the first step."""
        return None if getattr(self, "m_sum", None) is None else self.m_sum * (1.0 - self.beta1)

    @property
    def v(self):
        """The textbook second moment (running mean of the squared gradients); None before the first step."""
        return None if getattr(self, "v_sum", None) is None else self.v_sum * (1.0 - self.beta2)

    def _update(self, params, grads, n_decayed):
        self._l2_into(grads, params, n_decayed)
        self._adam_step(params, grads)

    def _adam_step(self, params, grads):
        m_sum, v_sum = self._slots(params, "m_sum", "v_sum")
        b1, b2 = self.beta1, self.beta2
        # With m_hat = (1 - b1) m_sum / (1 - b1^t) and sqrt(v_hat) = c sqrt(v_sum),
        # c = sqrt((1 - b2) / (1 - b2^t)), the update lr m_hat / (sqrt(v_hat) + eps)
        # is  step * m_sum / (sqrt(v_sum) + eps / c)  with the scalar step below.
        # Python floats (not NumPy scalars) keep the arithmetic in float32.
        c = math.sqrt((1.0 - b2) / (1.0 - b2**self.t))
        step = self.lr * (1.0 - b1) / ((1.0 - b1**self.t) * c)
        if backend.is_gpu(self.xp) and backend.fused_kernels():
            from .gpu_kernels import adam_kernel

            t = params.dtype.type  # the lines below, in one launch
            adam_kernel()(grads, t(b1), t(b2), t(self.eps / c), t(step), params, m_sum, v_sum)
            return
        tmp = self._scratch(params)
        m_sum *= b1
        m_sum += grads
        self.xp.multiply(grads, grads, out=tmp)
        v_sum *= b2
        v_sum += tmp
        self.xp.sqrt(v_sum, out=tmp)
        tmp += self.eps / c
        self.xp.divide(m_sum, tmp, out=tmp)
        tmp *= step
        params -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    The decay shrinks the weights directly, ``W <- W - lr * wd * W``, instead of
    entering the gradient, so Adam's per-parameter scaling does not weaken it.

    Parameters
    ----------
    lr : float
        The learning rate, > 0.
    beta1, beta2 : float
        As for :class:`Adam`, each in [0, 1).
    eps : float
        As for :class:`Adam`.
    weight_decay : float
        The decoupled decay (>= 0) of the weights per unit of ``lr``; 0.01 by
        default (PyTorch's too).

    Raises
    ------
    ConfigError
        If ``lr`` or ``weight_decay`` is out of its range.
    ValueError
        If ``beta1`` or ``beta2`` is not in [0, 1).
    """

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        super().__init__(lr, beta1, beta2, eps, weight_decay)

    def _update(self, params, grads, n_decayed):
        if self.weight_decay:
            params[:n_decayed] *= 1.0 - self.lr * self.weight_decay
        self._adam_step(params, grads)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSProp}


def make_optimizer(name, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """Build an optimiser by name (``sgd``, ``adam``, ``adamw``, ``rmsprop``).

    The other settings of Adam, AdamW and RMSProp keep their defaults.

    Parameters
    ----------
    name : {"sgd", "adam", "adamw", "rmsprop"}
        The optimiser.
    lr : float
        The learning rate, > 0.
    momentum : float
        SGD's momentum, in [0, 1); only for ``sgd``.
    nesterov : bool
        Nesterov momentum; only for ``sgd`` with ``momentum`` > 0.
    weight_decay : float
        Weight decay (>= 0): coupled L2, or decoupled for ``adamw``.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        If ``name`` is unknown, or ``momentum`` or ``nesterov`` is given for
        another optimiser than ``sgd``.
    ConfigError
        If a setting is out of its range.
    """
    if name == "sgd":
        return SGD(lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser {name!r}; expected one of {sorted(OPTIMIZERS)}")
    if momentum or nesterov:
        raise ValueError(f"momentum and nesterov apply to sgd only, not {name!r}")
    return OPTIMIZERS[name](lr=lr, weight_decay=weight_decay)
