"""Tests for the optimisers in ``scratchnn.nn.optimizers``.

Every update rule is checked against an independent reference written below in
the plain textbook form (new arrays, no in-place tricks), against numbers worked
out by hand, and (when torch is installed) against ``torch.optim``.
"""

import numpy as np
import pytest

from scratchnn.nn.optimizers import OPTIMIZERS, SGD, Adam, AdamW, RMSProp, make_optimizer

P0 = np.array([0.5, -1.25, 2.0, 0.75, -0.3, 1.5])
N_DECAYED = 4  # the first 4 entries are "weights", the last 2 "biases"
# Varying gradients: mixed signs, magnitudes from 1e-3 to 10, sign flips between steps.
GRADS = np.array(
    [
        [0.2, -1.0, 3.0, -0.001, 0.5, 10.0],
        [-0.4, -0.7, 2.0, 0.002, -0.5, 8.0],
        [0.1, 1.3, -1.0, 0.0, 0.25, -6.0],
        [0.3, -0.2, 0.5, 0.004, 1.0, 2.0],
        [-0.6, 0.9, -2.5, 0.001, -0.75, 1.0],
    ]
)


# -- independent references (textbook formulas, PyTorch conventions) ----------


def _decay_mask(size, n_decayed):
    mask = np.zeros(size)
    mask[: size if n_decayed is None else n_decayed] = 1.0
    return mask


def reference_sgd(p, grads, lrs, momentum=0.0, nesterov=False, weight_decay=0.0, n_decayed=None):
    """Parameters after each step: v = mu*v + g; p -= lr*v (or lr*(g + mu*v))."""
    mask = _decay_mask(p.size, n_decayed)
    v = np.zeros_like(p)
    out = []
    for lr, g in zip(lrs, grads):
        g = g + weight_decay * mask * p
        if momentum:
            v = momentum * v + g
            d = g + momentum * v if nesterov else v
        else:
            d = g
        p = p - lr * d
        out.append(p)
    return out


def reference_rmsprop(p, grads, lrs, rho=0.9, eps=1e-8, weight_decay=0.0, n_decayed=None):
    """s = rho*s + (1 - rho)*g^2; p -= lr*g/(sqrt(s) + eps)."""
    mask = _decay_mask(p.size, n_decayed)
    s = np.zeros_like(p)
    out = []
    for lr, g in zip(lrs, grads):
        g = g + weight_decay * mask * p
        s = rho * s + (1 - rho) * g**2
        p = p - lr * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


def reference_adam(p, grads, lrs, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, n_decayed=None, decoupled=False):
    """Adam with bias correction; ``decoupled`` gives AdamW (p *= 1 - lr*wd first)."""
    mask = _decay_mask(p.size, n_decayed)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    out = []
    for t, (lr, g) in enumerate(zip(lrs, grads), start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay * mask)
        else:
            g = g + weight_decay * mask * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


# name -> (build our optimiser from (lr, wd), reference from (p, grads, lrs, wd, n_decayed))
CASES = {
    "sgd": (
        lambda lr, wd: SGD(lr, weight_decay=wd),
        lambda p, g, lrs, wd, n: reference_sgd(p, g, lrs, weight_decay=wd, n_decayed=n),
    ),
    "sgd_momentum": (
        lambda lr, wd: SGD(lr, momentum=0.9, weight_decay=wd),
        lambda p, g, lrs, wd, n: reference_sgd(p, g, lrs, 0.9, False, wd, n),
    ),
    "sgd_nesterov": (
        lambda lr, wd: SGD(lr, momentum=0.8, nesterov=True, weight_decay=wd),
        lambda p, g, lrs, wd, n: reference_sgd(p, g, lrs, 0.8, True, wd, n),
    ),
    "rmsprop": (
        lambda lr, wd: RMSProp(lr, rho=0.85, eps=1e-6, weight_decay=wd),
        lambda p, g, lrs, wd, n: reference_rmsprop(p, g, lrs, 0.85, 1e-6, wd, n),
    ),
    "adam": (
        lambda lr, wd: Adam(lr, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=wd),
        lambda p, g, lrs, wd, n: reference_adam(p, g, lrs, 0.8, 0.95, 1e-6, wd, n),
    ),
    "adamw": (
        lambda lr, wd: AdamW(lr, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=wd),
        lambda p, g, lrs, wd, n: reference_adam(p, g, lrs, 0.8, 0.95, 1e-6, wd, n, decoupled=True),
    ),
}


def run(opt, p0, grads, lrs=None, n_decayed=None):
    """Step ``opt`` over ``grads`` from a copy of ``p0``; parameters after each step."""
    p = p0.copy()
    out = []
    for i, g in enumerate(grads):
        if lrs is not None:
            opt.lr = lrs[i]
        opt.step(p, g.copy(), n_decayed)  # copy: L2 may be added to the gradient in place
        out.append(p.copy())
    return out


def assert_trajectories_close(got, want, rtol=1e-12, atol=1e-14):
    assert len(got) == len(want)
    for step, (g, w) in enumerate(zip(got, want), start=1):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"after step {step}")


# -- each rule against the reference ------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_steps_match_textbook_reference(name):
    """Five consecutive steps with varying gradients, no weight decay."""
    build, reference = CASES[name]
    lr = 0.05
    got = run(build(lr, 0.0), P0, GRADS)
    want = reference(P0, GRADS, [lr] * len(GRADS), 0.0, None)
    assert_trajectories_close(got, want)
    assert not np.allclose(got[-1], P0)  # the parameters actually moved


@pytest.mark.parametrize("name", CASES)
def test_steps_with_weight_decay_match_reference(name):
    """Weight decay (coupled L2, or decoupled for AdamW) on params[:n_decayed] only."""
    build, reference = CASES[name]
    lr, wd = 0.05, 0.3
    got = run(build(lr, wd), P0, GRADS, n_decayed=N_DECAYED)
    want = reference(P0, GRADS, [lr] * len(GRADS), wd, N_DECAYED)
    assert_trajectories_close(got, want)


@pytest.mark.parametrize("name", CASES)
def test_lr_changed_between_steps_is_honoured(name):
    """A schedule sets ``opt.lr`` before each step; every step must use the new rate."""
    build, reference = CASES[name]
    lrs = [0.1, 0.01, 0.2, 0.05, 0.001]
    got = run(build(1.0, 0.2), P0, GRADS, lrs=lrs, n_decayed=N_DECAYED)
    want = reference(P0, GRADS, lrs, 0.2, N_DECAYED)
    assert_trajectories_close(got, want)
    # ...and differs from keeping the first rate throughout.
    fixed = reference(P0, GRADS, [lrs[0]] * len(lrs), 0.2, N_DECAYED)
    assert not np.allclose(got[-1], fixed[-1])


# -- steps worked out by hand -------------------------------------------------


def test_sgd_plain_step_by_hand():
    # p - lr*g = [1 - 0.1*0.5, -2 - 0.1*(-1)] = [0.95, -1.9]
    p = np.array([1.0, -2.0])
    SGD(0.1).step(p, np.array([0.5, -1.0]))
    np.testing.assert_allclose(p, [0.95, -1.9], rtol=1e-15)


def test_sgd_momentum_two_steps_by_hand():
    # lr 0.1, mu 0.9, g = 1 twice:
    # step 1: v = 1,               p = 1 - 0.1*1    = 0.9
    # step 2: v = 0.9*1 + 1 = 1.9, p = 0.9 - 0.1*1.9 = 0.71
    opt, p = SGD(0.1, momentum=0.9), np.array([1.0])
    opt.step(p, np.array([1.0]))
    np.testing.assert_allclose(p, [0.9], rtol=1e-15)
    opt.step(p, np.array([1.0]))
    np.testing.assert_allclose(p, [0.71], rtol=1e-15)


def test_sgd_nesterov_two_steps_by_hand():
    # lr 0.1, mu 0.9, g = 1 twice, step = g + mu*v (v already updated):
    # step 1: v = 1,   step = 1 + 0.9*1   = 1.9,  p = 1 - 0.19     = 0.81
    # step 2: v = 1.9, step = 1 + 0.9*1.9 = 2.71, p = 0.81 - 0.271 = 0.539
    opt, p = SGD(0.1, momentum=0.9, nesterov=True), np.array([1.0])
    opt.step(p, np.array([1.0]))
    np.testing.assert_allclose(p, [0.81], rtol=1e-15)
    opt.step(p, np.array([1.0]))
    np.testing.assert_allclose(p, [0.539], rtol=1e-14)


def test_rmsprop_first_step_by_hand():
    # rho 0.9, g = 2: s = 0.1*4 = 0.4, sqrt(s) = 0.6324555;
    # p = 1 - 0.01*2/0.6324555 = 1 - 0.0316228 = 0.9683772 (= lr*sign(g)/sqrt(1 - rho)).
    p = np.array([1.0, 1.0])
    RMSProp(0.01, rho=0.9, eps=0.0).step(p, np.array([2.0, -2.0]))
    np.testing.assert_allclose(p, [0.96837722, 1.03162278], rtol=1e-8)


def test_adam_first_step_moves_each_parameter_by_lr_times_sign():
    # Step 1: m = (1-b1) g, v = (1-b2) g^2, so m_hat = g and v_hat = g^2:
    # the step is lr * g/|g| = lr * sign(g), whatever the gradient's size.
    p = np.array([1.0, 1.0, 1.0, 1.0])
    Adam(0.1, eps=1e-12).step(p, np.array([1e-3, -5.0, 200.0, -0.02]))
    np.testing.assert_allclose(p, [0.9, 1.1, 0.9, 1.1], rtol=1e-9)


def test_adam_second_step_by_hand():
    # lr 0.1, b1 0.9, b2 0.999, eps 0, p = 0, g1 = 1 then g2 = -1:
    # step 1: p = -0.1 (lr * sign(g)).
    # step 2: m = 0.9*0.1 - 0.1 = -0.01,     m_hat = -0.01/(1 - 0.81)       = -0.0526316
    #         v = 0.999*0.001 + 0.001 = 0.001999, v_hat = 0.001999/0.001999 = 1
    #         p = -0.1 - 0.1*(-0.0526316)/1 = -0.0947368
    opt, p = Adam(0.1, eps=0.0), np.array([0.0])
    opt.step(p, np.array([1.0]))
    np.testing.assert_allclose(p, [-0.1], rtol=1e-12)
    opt.step(p, np.array([-1.0]))
    np.testing.assert_allclose(p, [-0.1 + 0.1 * 0.01 / 0.19], rtol=1e-12)
    np.testing.assert_allclose(p, [-0.0947368], rtol=1e-6)


def test_adamw_step_by_hand():
    # lr 0.1, wd 0.5, n_decayed 1, g = [1, 1]:
    # weight: 2 * (1 - 0.1*0.5) = 1.9, then Adam's first step -0.1 -> 1.8
    # bias:   3, not decayed,           then -0.1                    -> 2.9
    p = np.array([2.0, 3.0])
    AdamW(0.1, weight_decay=0.5, eps=0.0).step(p, np.array([1.0, 1.0]), n_decayed=1)
    np.testing.assert_allclose(p, [1.8, 2.9], rtol=1e-14)


# -- bias correction ----------------------------------------------------------


def test_adam_bias_correction_makes_steps_lr_sized_under_a_constant_gradient():
    """Without bias correction the first steps would be ~(1-b1)/sqrt(1-b2) = 3.2x lr."""
    lr = 0.01
    g = np.array([1e-3, -0.5, 4.0, -300.0])
    opt, p = Adam(lr, eps=1e-15), np.zeros(4)
    for t in range(1, 6):
        before = p.copy()
        opt.step(p, g.copy())
        # m_hat = g and v_hat = g^2 exactly at every t under a constant gradient.
        np.testing.assert_allclose(p - before, -lr * np.sign(g), rtol=1e-9, err_msg=f"step {t}")
    assert opt.t == 5


# -- weight decay -------------------------------------------------------------


@pytest.mark.parametrize(
    "n_decayed, expected",
    [
        (2, [2.0 - 0.01 * 2.0, -2.0 + 0.01 * 2.0, 3.0, -4.0]),  # p - lr*wd*p on the weights only
        (0, [2.0, -2.0, 3.0, -4.0]),  # nothing decayed
        (None, [1.98, -1.98, 2.97, -3.96]),  # default: every entry decayed
    ],
)
def test_sgd_l2_applies_only_to_the_first_n_decayed_entries(n_decayed, expected):
    # Zero gradient, lr 0.1, wd 0.1: g = wd*p, so p <- p*(1 - 0.01) where decayed.
    p = np.array([2.0, -2.0, 3.0, -4.0])
    SGD(0.1, weight_decay=0.1).step(p, np.zeros(4), n_decayed=n_decayed)
    np.testing.assert_allclose(p, expected, rtol=1e-15)


def test_adam_l2_enters_the_gradient_and_skips_biases():
    """Coupled L2 under Adam: with g = 0 the weights get g = wd*p, a full lr*sign(p) step."""
    p = np.array([2.0, -4.0, 3.0, -1.0])
    Adam(0.1, weight_decay=0.01, eps=1e-12).step(p, np.zeros(4), n_decayed=2)
    # Weights: lr*sign(wd*p), however small wd is. Biases: g = 0, so m = 0, no move.
    np.testing.assert_allclose(p, [1.9, -3.9, 3.0, -1.0], rtol=1e-9)


def test_adamw_decay_is_decoupled_from_the_adaptive_scaling():
    """With g = 0, AdamW shrinks weights by exactly (1 - lr*wd) per step; Adam+L2 does not."""
    lr, wd = 0.1, 0.01
    p0 = np.array([2.0, -4.0, 3.0, -1.0])
    adamw, p = AdamW(lr, weight_decay=wd), p0.copy()
    for _ in range(3):
        adamw.step(p, np.zeros(4), n_decayed=2)
    np.testing.assert_allclose(p, [2.0 * 0.999**3, -4.0 * 0.999**3, 3.0, -1.0], rtol=1e-14)

    adam_l2, q = Adam(lr, weight_decay=wd), p0.copy()
    for _ in range(3):
        adam_l2.step(q, np.zeros(4), n_decayed=2)
    assert abs(q[0] - p[0]) > 0.1  # Adam+L2 moved ~3*lr, AdamW ~3*lr*wd*|p|


def test_adamw_differs_from_adam_l2_on_weights_and_leaves_biases_undecayed():
    lr, wd = 0.05, 0.3
    adamw = run(AdamW(lr, weight_decay=wd), P0, GRADS, n_decayed=N_DECAYED)[-1]
    adam_l2 = run(Adam(lr, weight_decay=wd), P0, GRADS, n_decayed=N_DECAYED)[-1]
    adam = run(Adam(lr), P0, GRADS)[-1]
    assert np.all(np.abs(adamw[:N_DECAYED] - adam_l2[:N_DECAYED]) > 1e-4)
    # Biases: AdamW's decay never touches them or their gradients, so they follow
    # plain Adam exactly; under Adam+L2 too (their gradients get no L2 term).
    np.testing.assert_array_equal(adamw[N_DECAYED:], adam[N_DECAYED:])
    np.testing.assert_array_equal(adam_l2[N_DECAYED:], adam[N_DECAYED:])
    # The weights, by contrast, were decayed.
    assert np.all(np.abs(adamw[:N_DECAYED]) < np.abs(adam[:N_DECAYED]))


@pytest.mark.parametrize("name", CASES)
def test_weight_decay_changes_the_weights_but_never_the_biases(name):
    """Same gradients with and without decay: only params[:n_decayed] may differ."""
    build, _ = CASES[name]
    a = run(build(0.05, 0.0), P0, GRADS, n_decayed=N_DECAYED)[-1]
    b = run(build(0.05, 0.5), P0, GRADS, n_decayed=N_DECAYED)[-1]
    np.testing.assert_array_equal(a[N_DECAYED:], b[N_DECAYED:])
    assert np.all(a[:N_DECAYED] != b[:N_DECAYED])


# -- state_dict round trip ----------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_state_dict_round_trip_resumes_exactly(name):
    """Restoring a snapshot and continuing equals never having stopped."""
    build, _ = CASES[name]
    opt = build(0.05, 0.2)
    p = P0.copy()
    for g in GRADS[:2]:
        opt.step(p, g.copy(), N_DECAYED)
    opt.lr = 0.03  # as a schedule would have set it
    state, p_saved = opt.state_dict(), p.copy()

    for g in GRADS[2:]:  # the uninterrupted run goes on (the snapshot must not follow)
        opt.step(p, g.copy(), N_DECAYED)

    for _ in range(2):  # twice: loading must copy, not alias, the saved vectors
        resumed = build(1.0, 0.2)
        resumed.load_state_dict(state)
        assert resumed.lr == 0.03 and resumed.t == 2
        q = p_saved.copy()
        for g in GRADS[2:]:
            resumed.step(q, g.copy(), N_DECAYED)
        np.testing.assert_array_equal(q, p)


def test_state_dict_holds_the_state_vectors():
    opt = Adam(0.01)
    opt.step(np.zeros(3), np.array([1.0, 2.0, 3.0]))
    state = opt.state_dict()
    assert set(state) == {"t", "lr", "m_sum", "v_sum"}
    # Stored without their (1 - beta) factors; .m and .v are the textbook moments.
    np.testing.assert_allclose(state["m_sum"], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(state["v_sum"], [1.0, 4.0, 9.0])
    np.testing.assert_allclose(opt.m, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(opt.v, [0.001, 0.004, 0.009])


# -- make_optimizer and validation --------------------------------------------


@pytest.mark.parametrize("name, cls", [("sgd", SGD), ("adam", Adam), ("adamw", AdamW), ("rmsprop", RMSProp)])
def test_make_optimizer_by_name(name, cls):
    opt = make_optimizer(name, 0.02, weight_decay=0.1)
    assert type(opt) is cls
    assert opt.lr == 0.02 and opt.weight_decay == 0.1
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop"}


def test_make_optimizer_passes_sgd_momentum_and_nesterov():
    opt = make_optimizer("sgd", 0.1, momentum=0.9, nesterov=True)
    assert opt.momentum == 0.9 and opt.nesterov
    got = run(opt, P0, GRADS)
    want = reference_sgd(P0, GRADS, [0.1] * len(GRADS), momentum=0.9, nesterov=True)
    assert_trajectories_close(got, want)


@pytest.mark.parametrize("name", ["nadam", "", "SGD ", "momentum"])
def test_make_optimizer_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="unknown optimiser"):
        make_optimizer(name, 0.1)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.0},
        {"lr": -0.1},
        {"lr": 0.1, "weight_decay": -1e-4},
    ],
)
def test_make_optimizer_rejects_bad_lr_and_weight_decay(name, kwargs):
    with pytest.raises(ValueError):
        make_optimizer(name, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"momentum": 1.0},
        {"momentum": -0.1},
        {"momentum": 0.0, "nesterov": True},
    ],
)
def test_sgd_rejects_bad_momentum(kwargs):
    with pytest.raises(ValueError):
        make_optimizer("sgd", 0.1, **kwargs)


@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, 1.0), (-0.1, 0.999)])
def test_adam_rejects_betas_outside_unit_interval(betas):
    with pytest.raises(ValueError, match="betas"):
        Adam(0.1, *betas)


# -- dtype --------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_float32_parameters_stay_float32(name):
    build, reference = CASES[name]
    opt = build(0.05, 0.2)
    p = P0.astype(np.float32)
    for g in GRADS:
        opt.step(p, g.astype(np.float32), N_DECAYED)
    assert p.dtype == np.float32
    for key, value in opt.state_dict().items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key
    # Still the same rule, to float32 precision.
    want = reference(
        P0.astype(np.float32).astype(np.float64),
        GRADS.astype(np.float32).astype(np.float64),
        [0.05] * len(GRADS),
        0.2,
        N_DECAYED,
    )[-1]
    np.testing.assert_allclose(p, want, rtol=1e-5, atol=1e-6)


# -- PyTorch as an independent reference (optional) ---------------------------

TORCH_CASES = {
    # name -> (our optimiser, torch.optim class name, torch kwargs)
    "sgd": (lambda: SGD(0.1, weight_decay=0.2), "SGD", {}),
    "sgd_momentum": (lambda: SGD(0.1, momentum=0.9, weight_decay=0.2), "SGD", {"momentum": 0.9}),
    "sgd_nesterov": (
        lambda: SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.2),
        "SGD",
        {"momentum": 0.9, "nesterov": True},
    ),
    "rmsprop": (lambda: RMSProp(0.1, rho=0.85, eps=1e-6, weight_decay=0.2), "RMSprop", {"alpha": 0.85, "eps": 1e-6}),
    "adam": (
        lambda: Adam(0.1, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.2),
        "Adam",
        {"betas": (0.8, 0.95), "eps": 1e-6},
    ),
    "adamw": (
        lambda: AdamW(0.1, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.2),
        "AdamW",
        {"betas": (0.8, 0.95), "eps": 1e-6},
    ),
}


@pytest.mark.parametrize("name", TORCH_CASES)
def test_matches_torch_optim(name):
    """Five steps with varying gradients and rates equal torch.optim's, weight decay on the weights only."""
    torch = pytest.importorskip("torch")
    build, torch_name, torch_kwargs = TORCH_CASES[name]
    lrs = [0.1, 0.05, 0.02, 0.08, 0.01]
    ours = run(build(), P0, GRADS, lrs=lrs, n_decayed=N_DECAYED)

    weights = torch.tensor(P0[:N_DECAYED], dtype=torch.float64, requires_grad=True)
    biases = torch.tensor(P0[N_DECAYED:], dtype=torch.float64, requires_grad=True)
    groups = [{"params": [weights], "weight_decay": 0.2}, {"params": [biases], "weight_decay": 0.0}]
    opt = getattr(torch.optim, torch_name)(groups, lr=lrs[0], **torch_kwargs)
    for step, (lr, g) in enumerate(zip(lrs, GRADS)):
        for group in opt.param_groups:
            group["lr"] = lr
        weights.grad = torch.tensor(g[:N_DECAYED], dtype=torch.float64)
        biases.grad = torch.tensor(g[N_DECAYED:], dtype=torch.float64)
        opt.step()
        theirs = np.concatenate([weights.detach().numpy(), biases.detach().numpy()])
        np.testing.assert_allclose(ours[step], theirs, rtol=1e-12, atol=1e-14, err_msg=f"step {step + 1}")


@pytest.mark.parametrize("make", [lambda: Adam(1e-3), lambda: SGD(0.1, momentum=0.9), lambda: RMSProp(1e-3)])
def test_state_never_sinks_into_subnormal_numbers(make):
    """A gradient that stops (a blank pixel) must not leave the momentum decaying into
    float32 subnormals, which are many times slower; values that small are set to 0."""
    opt = make()
    params = np.ones(4, np.float32)
    grads = np.array([1.0, 1e-3, 0.0, 0.0], np.float32)
    opt.step(params, grads.copy())
    for _ in range(900):  # without flushing, 0.9**900 leaves the state subnormal here
        opt.step(params, np.zeros(4, np.float32))
    tiny = np.finfo(np.float32).tiny
    for name in opt.state_slots:
        slot = getattr(opt, name)
        assert not np.any((slot != 0) & (np.abs(slot) < tiny)), name


def test_documented_defaults():
    """The constructor defaults the docstrings and README state (AdamW's decay is PyTorch's)."""
    assert (RMSProp().lr, RMSProp().rho, RMSProp().eps, RMSProp().weight_decay) == (1e-3, 0.9, 1e-8, 0.0)
    assert (AdamW().weight_decay, AdamW().eps, AdamW().beta1, AdamW().beta2) == (0.01, 1e-8, 0.9, 0.999)
    assert (Adam().weight_decay, Adam().lr) == (0.0, 1e-3)


def test_rmsprop_takes_rho_in_zero_to_one_and_a_non_negative_eps():
    RMSProp(rho=0.0, eps=0.0)  # allowed: the running average is then the last squared gradient
    for rho, eps in ((1.0, 1e-8), (1.5, 1e-8), (-0.1, 1e-8), (0.9, -1e-9)):
        with pytest.raises(ValueError, match=r"^RMSProp needs rho in \[0, 1\) and eps >= 0, got "):
            RMSProp(rho=rho, eps=eps)
