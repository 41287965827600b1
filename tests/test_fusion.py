"""Fusion: weights that multiply the same operands become one product of stacked weights,
forward and back (rule 5 on the stack), for any network; the gradients stay the unfused
equations' own, checked against central differences and autograd. (The built-in LSTM, GRU
and transformer block run fused through their own gradient tests.)"""

import autograd.numpy as anp

import derive as d
from derive.fusion import groups
from helpers import check_grads, sigmoid, squared_error


def glu(name="out"):
    """A gated linear unit: out = (A x + a) ⊙ σ(B x + b), two heads on one input."""
    g = d.Graph("glu")
    x, label = g.input("x", ("D", "N")), g.input("label", ("H", "N"))
    A, B = g.param("A", ("H", "D")), g.param("B", ("H", "D"))
    a, b = g.param("a", ("H", 1)), g.param("b", ("H", 1))
    out = ((A @ x + a).named("z") * d.sigmoid(B @ x + b)).named(name)
    g.loss(d.squared_error(out, label))
    return g


def glu_loss(p, i):
    x = i["x"]
    return squared_error((p["A"] @ x + p["a"]) * sigmoid(p["B"] @ x + p["b"]), i["label"])


def test_two_heads_on_one_input_are_one_product_forward_and_back():
    der = d.derive(glu())
    [group] = groups(der)
    assert group.weights == (("A", "B"),) and group.biases == ("a", "b")
    code = d.to_numpy(der)
    assert "A_B = np.concatenate((A, B))" in code and "a_b = np.concatenate((a, b))" in code
    assert "# [δA; δB] = [δz; δt1] xᵀ\n    delta_A_B = delta_z_t1 @ x.T\n" in code
    check_grads(glu(), glu_loss)


def test_heads_inside_functions_stack_their_products_and_keep_their_functions():
    """σ(A x) ⊙ tanh(B x): no node holds A x alone; the stack does, and δ[A x; B x] is
    [δt1 ⊙ σ′; δt2 ⊙ tanh′], made once for both gradients."""
    g = d.Graph("heads")
    x, label = g.input("x", ("D", "N")), g.input("label", ("H", "N"))
    A, B = g.param("A", ("H", "D")), g.param("B", ("H", "D"))
    g.loss(d.squared_error(d.sigmoid(A @ x) * d.tanh(B @ x), label))
    [group] = groups(d.derive(g))
    assert all(f is not None for f in group.functions)
    assert "# [δA; δB] = [δt1 ⊙ t1 ⊙ (1 − t1); δt2 ⊙ (1 − t2²)] xᵀ" in d.to_numpy(d.derive(g))

    def loss(p, i):
        return squared_error(sigmoid(p["A"] @ i["x"]) * anp.tanh(p["B"] @ i["x"]), i["label"])

    check_grads(g, loss)


def test_a_node_named_like_the_stack_keeps_its_name():
    code = d.to_numpy(d.derive(glu(name="A_B")))
    assert "A_B_ = np.concatenate((A, B))" in code and "\n    A_B = t2 * z\n" in code
    check_grads(glu(name="A_B"), glu_loss)


def test_a_weight_used_elsewhere_is_not_stacked():
    """W multiplies x twice: its gradient has two terms, so neither use joins V's."""
    g = d.Graph("shared")
    x, label = g.input("x", ("D", "N")), g.input("label", ("D", "N"))
    W, V = g.param("W", ("D", "D")), g.param("V", ("D", "D"))
    z1, z2 = (W @ x).named("z1"), (V @ x).named("z2")
    g.loss(d.squared_error(d.tanh(z1) * z2 + W @ d.tanh(z2), label))
    assert groups(d.derive(g)) == []

    def loss(p, i):
        z1, z2 = p["W"] @ i["x"], p["V"] @ i["x"]
        return squared_error(anp.tanh(z1) * z2 + p["W"] @ anp.tanh(z2), i["label"])

    check_grads(g, loss)


def test_the_lstm_gates_are_one_product_on_each_operand():
    """The three sigmoid gates go next to each other in the stack (i, f, o, then g), so one
    sigmoid covers their rows."""
    der = d.derive(d.models.lstm())
    [group] = groups(der)
    assert group.members == ("z_i", "z_f", "z_o", "z_g")
    [run] = group.runs
    assert run.activations == ("i", "f", "o")
    code = d.to_numpy(der)
    assert ("# [z_i_t; z_f_t; z_o_t; z_g_t] = [U_i; U_f; U_o; U_g] h_{t−1} "
            "+ [W_i; W_f; W_o; W_g] x_t + [b_i; b_f; b_o; b_g]\n"
            "        z_ifog = U_ifog @ h_prev\n"
            "        z_ifog += z_ifog_inputs\n"  # W x_t + b, before the loop (hoisting)
            "        # [i_t; f_t; o_t] = sigmoid([z_i_t; z_f_t; z_o_t])\n"
            "        i_f_o = sigmoid(z_ifog[0:3*H])\n") in code
    assert "        i = i_f_o[0:H]\n" in code and "        o = i_f_o[2*H:3*H]\n" in code
    assert "        g = np.tanh(z_g)\n" in code
    assert "delta_h_prev = U_ifog.T @ delta_z_ifog\n" in code
    assert "delta_U_ifog = delta_z_ifog_steps @ h_prev_steps.T\n" in code  # after the loop


def test_heads_with_one_function_apply_it_once_over_their_rows():
    """σ(A x + a) ⊙ tanh(C x) ⊙ σ(B x + b): the stack puts A and B together, one sigmoid
    covers both heads, and the gradients are the unfused equations' own."""
    g = d.Graph("heads3")
    x, label = g.input("x", ("D", "N")), g.input("label", ("H", "N"))
    A, B, C = (g.param(n, ("H", "D")) for n in "ABC")
    g.loss(d.squared_error(d.sigmoid(A @ x) * d.tanh(C @ x) * d.sigmoid(B @ x), label))
    [group] = groups(d.derive(g))
    assert group.weights == (("A", "B", "C"),) and len(group.runs) == 1
    code = d.to_numpy(d.derive(g))
    assert "= sigmoid([A x; B x])\n" in code
    assert "sigmoid(" in code.split("def forward", 1)[1].split("def backward")[0]

    def loss(p, i):
        x = i["x"]
        return squared_error(sigmoid(p["A"] @ x) * anp.tanh(p["C"] @ x) * sigmoid(p["B"] @ x),
                             i["label"])

    check_grads(g, loss)


def test_the_gru_stacks_the_gates_that_share_operands():
    """r and u read x_t and h_{t−1}; the candidate reads r ⊙ h_{t−1}, so it stays apart."""
    [group] = groups(d.derive(d.models.gru()))
    assert group.members == ("z_r", "z_u")


def test_a_run_of_every_gate_is_the_stacks_δ_itself():
    """The GRU's r and u, both sigmoids of the stack: δ[z_r; z_u] is made once, in the run's
    form, not again as a stack of that one block (a copy, under a comment that hid the form;
    found by a hunt)."""
    code = d.to_numpy(d.derive(d.models.gru()))
    assert code.count("        delta_z_ru = ") == 1
    assert "# δ[z_r; z_u] = [δr_t; δu_t] ⊙ [r_t; u_t] ⊙ (1 − [r_t; u_t])\n" in code


def test_a_stack_of_δs_is_made_once_and_each_block_written_into_its_rows():
    """δ[z_i; z_f; z_o; z_g] and δ[i; f; o] are made before their first block, and each
    block's first operation writes into the stack's rows: no block is made on its own and
    then copied (np.concatenate) in the backward loop. A block nothing reads by its own name
    is not bound to one; its in-place updates go through the name it is given."""
    code = d.to_numpy(d.derive(d.models.lstm()))
    loop = code.split("for t in reversed(", 1)[1].split("if batched:", 1)[0]
    assert "np.concatenate" not in loop
    assert ("        # δ[i; f; o] = [δi_t; δf_t; δo_t], its blocks made in place\n"
            "        delta_i_f_o = np.empty((3*H, N), dtype=dtype)\n") in loop
    assert ("        # δi_t = δc_t ⊙ g_t\n"
            "        np.multiply(delta_c, g, out=delta_i_f_o[0:H])\n") in loop
    assert ("        delta_z_g = np.subtract(1, g**2, out=delta_z_ifog[3*H:4*H])\n"
            "        delta_z_g *= delta_g\n") in loop
    assert loop.index("delta_z_ifog = np.empty((4*H, N)") < loop.index("delta_z_g = ")


def test_a_block_whose_first_operation_is_not_elementwise_leaves_its_stack_a_copy():
    """δz = Cᵀ δt2 is a matrix product, which the printer does not write into rows: the
    stack [δz; δt] is copied together from both blocks (δt is made on its own too, not half
    in place), and the gradients are right."""
    g = d.Graph("two_products_back")
    x, label = g.input("x", ("D", "N")), g.input("label", ("H", "N"))
    A, B = g.param("A", ("H", "D")), g.param("B", ("H", "D"))
    C, E = g.param("C", ("H", "H")), g.param("E", ("H", "H"))
    g.loss(d.squared_error(C @ (A @ x).named("z") + E @ d.tanh((B @ x).named("t")), label))
    code = d.to_numpy(d.derive(g))
    assert "out=" not in code.split("def backward", 1)[1].split("def predict")[0]
    assert "delta_z_t = np.concatenate((delta_z, delta_t_))" in code

    def loss(p, i):
        x = i["x"]
        return squared_error(p["C"] @ (p["A"] @ x) + p["E"] @ anp.tanh(p["B"] @ x), i["label"])

    check_grads(g, loss)
