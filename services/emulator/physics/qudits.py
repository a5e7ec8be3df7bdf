"""Tensor-product register of collective spins: cached spin matrices and exact evolution steps."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import expm_multiply

# Level index l = 0..N is the Lz eigenvalue m = N/2 - l (qiskit-nature SpinOp and sqooler order),
# so level 0 is the fully polarised initial state and an rlx(pi) pulse sends it to level N.


@lru_cache(maxsize=128)
def magnetisation(n_atoms: int) -> np.ndarray:
    """Lz eigenvalue of each level: N/2, N/2 - 1, ..., -N/2."""
    m = n_atoms / 2 - np.arange(n_atoms + 1, dtype=float)
    m.setflags(write=False)
    return m


@lru_cache(maxsize=128)
def raising_elements(n_atoms: int) -> np.ndarray:
    """<l-1| L+ |l> for l = 1..N, i.e. sqrt(S(S+1) - m(m+1)) with m the Lz value of level l."""
    s = n_atoms / 2
    m = magnetisation(n_atoms)[1:]
    elems = np.sqrt(np.clip(s * (s + 1) - m * (m + 1), 0.0, None))
    elems.setflags(write=False)
    return elems


@lru_cache(maxsize=128)
def lx_eigen(n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of Lx (tridiagonal, real); rlx pulses of any angle reuse it."""
    return sla.eigh_tridiagonal(np.zeros(n_atoms + 1), raising_elements(n_atoms) / 2)


def local_eigen(
    n_atoms: int, omega: float, delta: float, chi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and real eigenvectors of omega Lx + delta Lz + chi Lz^2 on one spin.

    The generator is real tridiagonal, so its eigen-decomposition is cheap and, unlike
    Taylor/Pade methods, its cost and accuracy do not degrade with chi * N^2 (up to 1e6 here).
    """
    if delta == 0.0 and chi == 0.0:
        vals, vecs = lx_eigen(n_atoms)
        return omega * vals, vecs
    m = magnetisation(n_atoms)
    return sla.eigh_tridiagonal(delta * m + chi * m * m, omega * raising_elements(n_atoms) / 2)


def lx_matrix(n_atoms: int) -> sp.csr_matrix:
    off = raising_elements(n_atoms) / 2
    return sp.diags([off, off], [-1, 1], format="csr")


def raising_matrix(n_atoms: int) -> sp.csr_matrix:
    # L+ raises m, i.e. lowers the level index: entries sit on the first superdiagonal.
    return sp.diags(raising_elements(n_atoms), 1, format="csr")


def embed(ops: dict[int, sp.spmatrix], dims: Sequence[int]) -> sp.csr_matrix:
    """Kronecker product over positions 0..k-1 (position 0 most significant), identity elsewhere."""
    out = sp.identity(1, format="csr")
    for pos, dim in enumerate(dims):
        out = sp.kron(out, ops.get(pos, sp.identity(dim, format="csr")), format="csr")
    return out


@lru_cache(maxsize=1024)
def embedded(kind: str, atoms: tuple[int, ...], pos: int) -> sp.csr_matrix:
    """Lx ("lx") or L+ ("raise") of spin `pos` in a product of spins; cached because registers
    repeat across jobs and the sparse Kronecker products dominate small simulations."""
    single = lx_matrix(atoms[pos]) if kind == "lx" else raising_matrix(atoms[pos])
    return embed({pos: single}, [n + 1 for n in atoms])


# Above this block size a dense eigh (O(n^3)) may lose against a Krylov-type expm_multiply.
_ALWAYS_DENSE = 96
_EIGH_SECONDS_PER_N3 = 3e-10
_MATVEC_SECONDS_PER_NNZ = 4e-9


class Register:
    """State vector over wires of dimension dims[w], stored as an n-dimensional array."""

    def __init__(self, dims: Sequence[int]) -> None:
        self.dims = tuple(int(d) for d in dims)
        self.psi = np.zeros(self.dims, dtype=complex)
        self.psi[(0,) * len(self.dims)] = 1.0

    def along(self, wire: int, values: np.ndarray) -> np.ndarray:
        """Per-level values of one wire, shaped to broadcast over the whole register."""
        shape = [1] * len(self.dims)
        shape[wire] = self.dims[wire]
        return np.asarray(values).reshape(shape)

    def apply_energies(self, energies: np.ndarray | float) -> None:
        """Evolve under a Hamiltonian diagonal in the level basis (energies broadcast to dims)."""
        self.psi = self.psi * np.exp(-1j * np.broadcast_to(energies, self.dims))

    def apply_local(self, wire: int, eigen: tuple[np.ndarray, np.ndarray]) -> None:
        """Evolve one wire under V diag(vals) V^T: exp(-i H) applied as V e^{-i vals} V^T psi,
        which is O(d^2) per remaining amplitude instead of forming the d x d unitary."""
        vals, vecs = eigen
        rotated = np.tensordot(vecs.T, self.psi, axes=([1], [wire]))
        rotated *= np.exp(-1j * vals).reshape((-1,) + (1,) * (len(self.dims) - 1))
        self.psi = np.moveaxis(np.tensordot(vecs, rotated, axes=([1], [0])), 0, wire)

    def apply_generator(self, wires: Sequence[int], h: sp.spmatrix) -> None:
        """Evolve with exp(-i h), h real symmetric on the listed wires (in that order)."""
        k = len(wires)
        front = np.moveaxis(self.psi, list(wires), list(range(k)))
        shape = front.shape
        block_state = front.reshape(int(np.prod(shape[:k])), -1)
        h = sp.csr_matrix(h, copy=True)
        h.eliminate_zeros()  # stored zeros (e.g. a coupling times 0.0) would merge blocks
        block_state = _evolve_blocks(h, block_state)
        self.psi = np.moveaxis(block_state.reshape(shape), list(range(k)), list(wires))

    def probabilities(self) -> np.ndarray:
        return (np.abs(self.psi) ** 2).ravel()

    def levels(self) -> np.ndarray:
        """levels[w, i]: level of wire w in flattened basis state i (wire 0 most significant)."""
        return np.indices(self.dims).reshape(len(self.dims), -1)


def _evolve_blocks(h: sp.csr_matrix, state: np.ndarray) -> np.ndarray:
    """Apply exp(-i h) exactly, one conserved-quantity block at a time.

    Exchange terms conserve the total magnetisation, so the coupling graph of h splits into
    many small blocks; each is exponentiated on its own, which keeps dense eigh affordable.
    Large blocks go to expm_multiply instead when its norm-dependent cost is lower.
    """
    out = state.copy()
    n_blocks, labels = connected_components(h, directed=False)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_blocks + 1))
    sizes = np.diff(bounds)
    # Uncoupled states only pick up a phase: handle them all at once.
    single = order[bounds[:-1][sizes == 1]]
    out[single] = state[single] * np.exp(-1j * h.diagonal()[single])[:, None]
    for b in np.flatnonzero(sizes > 1):
        idx = order[bounds[b] : bounds[b + 1]]
        out[idx] = _evolve_block(h[idx][:, idx], state[idx])
    return out


def _evolve_block(block: sp.csr_matrix, state: np.ndarray) -> np.ndarray:
    n = block.shape[0]
    if n > _ALWAYS_DENSE:
        shift = block.diagonal().mean()
        shifted = block - shift * sp.identity(n, format="csr")
        norm1 = float(abs(shifted).sum(axis=0).max())
        krylov_cost = (1.5 * norm1 + 40) * block.nnz * state.shape[1] * _MATVEC_SECONDS_PER_NNZ
        if krylov_cost < _EIGH_SECONDS_PER_N3 * n**3:
            return np.exp(-1j * shift) * expm_multiply(-1j * shifted, state)
    vals, vecs = sla.eigh(block.toarray())
    return (vecs * np.exp(-1j * vals)) @ (vecs.T @ state)
