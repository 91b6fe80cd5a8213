// Adapter for Nix's C++ API from 2.26 on: included by nix_bridge.cc when the build defines
// NIXPROC_NIX_MINOR >= 26. Three generations share it, told apart by NIXPROC_NIX_MINOR:
//   2.26-era  flat headers under include/nix, generated config-{util,store,expr}.hh that every
//             user must include first (Nix compiles itself with `-include` of them);
//   2.28+     headers under include/nix/{util,store,expr}/, self-contained;
//   2.31+     lists are read through `listView()` (`listItems()` is gone);
//   2.34+     a PrimOp's function is `.impl` (was `.fun`), strings are allocated in
//             `EvalState::mem`, and the static symbols live in `EvalState::s`.
#pragma once

#ifndef NIXPROC_NIX_MINOR
#error "NIXPROC_NIX_MINOR must be defined by the build (the minor version of the Nix headers)"
#endif

#if NIXPROC_NIX_MINOR >= 28
#include "nix/expr/eval.hh"
#include "nix/expr/eval-inline.hh"
#include "nix/expr/primops.hh"
#include "nix/store/globals.hh"
#else
// Installed 2.26 headers need their generated configuration first; the source tree used by
// the compile check has none (and needs none for a syntax check).
#if __has_include("config-util.hh")
#include "config-util.hh"
#include "config-store.hh"
#include "config-expr.hh"
#endif
#include "eval.hh"
#include "eval-inline.hh"
#include "globals.hh"
#include "primops.hh"
#endif

#include <string>
#include <string_view>
#include <vector>

namespace nixproc::compat {

using namespace nix;

/// How a position is passed around.
using PosArg = PosIdx;
/// The string context collected while converting the spec.
using Context = NixStringContext;
/// The signature of a primop's implementation.
using PrimOpImpl = void (*)(EvalState &, const PosIdx, Value **, Value &);

constexpr std::string_view errorContext =
    "while converting the argument of builtins.sysvinitScript";

[[noreturn]] inline void throwError(EvalState & state, PosArg pos, const std::string & message)
{
    state.error<EvalError>(message).atPos(pos).debugThrow();
}

inline const Bindings & attrsOf(Value & v) { return *v.attrs(); }
inline PosArg attrPos(const Attr & a) { return a.pos; }
inline std::string attrName(EvalState & state, const Attr & a)
{
    return std::string(state.symbols[a.name]);
}
inline std::vector<const Attr *> sortedAttrs(EvalState & state, Value & v)
{
    return v.attrs()->lexicographicOrder(state.symbols);
}
#if NIXPROC_NIX_MINOR >= 31
inline auto listItems(Value & v) { return v.listView(); }
#else
inline auto listItems(Value & v) { return v.listItems(); }
#endif

inline NixInt::Inner intOf(const Value & v) { return v.integer().value; }
inline NixFloat floatOf(const Value & v) { return v.fpoint(); }
inline bool boolOf(const Value & v) { return v.boolean(); }
inline std::string_view stringOf(const Value & v) { return v.string_view(); }

/// A derivation or an attribute set with `__toString`, coerced like string interpolation.
inline std::string coerceToString(EvalState & state, PosArg pos, Value & v, Context & context)
{
    return std::string(*state.coerceToString(pos, v, context, errorContext, false, true));
}

/// A path value copied to the store; its store path joins the context.
inline std::string pathToStore(EvalState & state, PosArg pos, Value & v, Context & context)
{
    return coerceToString(state, pos, v, context);
}

#if NIXPROC_NIX_MINOR >= 34
inline void mkString(EvalState & state, Value & v, std::string_view s) { v.mkString(s, state.mem); }
inline void mkString(EvalState & state, Value & v, std::string_view s, const Context & context)
{
    v.mkString(s, context, state.mem);
}
#else
inline void mkString(EvalState &, Value & v, std::string_view s) { v.mkString(s); }
inline void mkString(EvalState &, Value & v, std::string_view s, const Context & context)
{
    v.mkString(s, context);
}
#endif
inline void mkInt(Value & v, long long n) { v.mkInt(NixInt::Inner(n)); }

/// Makes `v` a list of `n` values; `elem(i)` returns the i-th.
template<typename F>
void mkList(EvalState & state, Value & v, size_t n, F elem)
{
    auto list = state.buildList(n);
    for (size_t i = 0; i < n; i++)
        list[i] = elem(i);
    v.mkList(list);
}

/// Registers a primop at load time (called from a static initializer).
inline void addPrimOp(
    const char * name, std::vector<std::string> args, const char * doc, PrimOpImpl impl)
{
    RegisterPrimOp reg(PrimOp {
        .name = name, .args = std::move(args), .arity = 1, .doc = doc,
#if NIXPROC_NIX_MINOR >= 34
        .impl = impl,
#else
        .fun = impl,
#endif
    });
}

} // namespace nixproc::compat
