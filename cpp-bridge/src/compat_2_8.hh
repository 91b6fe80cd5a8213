// Adapter for Nix 2.8's C++ API (the 2.8-era generation): included by nix_bridge.cc when
// the build defines NIXPROC_NIX_MINOR < 26. Everything in here is the 2.8 spelling of one
// operation the bridge needs; the bridge itself is written once, against these names.
// Compiled with `-include config.h` (Nix 2.8's headers are not self-contained).
#pragma once

#include "eval.hh"
#include "eval-inline.hh"
#include "globals.hh"
#include "primops.hh"

#include <string>
#include <string_view>
#include <vector>

namespace nixproc::compat {

using namespace nix;

/// How a position is passed around: 2.8 has `Pos` objects, later versions `PosIdx`.
using PosArg = const Pos &;
/// The string context collected while converting the spec.
using Context = PathSet;
/// The signature of a primop's implementation.
using PrimOpImpl = void (*)(EvalState &, PosArg, Value **, Value &);

[[noreturn]] inline void throwError(EvalState &, PosArg pos, const std::string & message)
{
    throw EvalError({
        .msg = hintfmt(message),
        .errPos = pos,
    });
}

inline Bindings & attrsOf(Value & v) { return *v.attrs; }
inline PosArg attrPos(const Attr & a) { return *a.pos; }
inline std::string attrName(EvalState &, const Attr & a) { return a.name; }
inline std::vector<const Attr *> sortedAttrs(EvalState &, Value & v)
{
    return v.attrs->lexicographicOrder();
}
inline auto listItems(Value & v) { return v.listItems(); }

inline NixInt intOf(const Value & v) { return v.integer; }
inline NixFloat floatOf(const Value & v) { return v.fpoint; }
inline bool boolOf(const Value & v) { return v.boolean; }
inline std::string_view stringOf(const Value & v) { return v.string.s; }

/// A derivation or an attribute set with `__toString`, coerced like string interpolation.
inline std::string coerceToString(EvalState & state, PosArg pos, Value & v, Context & context)
{
    return std::string(*state.coerceToString(pos, v, context, false, true));
}

/// A path value copied to the store; its store path joins the context.
inline std::string pathToStore(EvalState & state, PosArg, Value & v, Context & context)
{
    return state.copyPathToStore(context, v.path);
}

inline void mkString(EvalState &, Value & v, std::string_view s) { v.mkString(s); }
inline void mkString(EvalState &, Value & v, std::string_view s, const Context & context)
{
    v.mkString(s, context);
}
inline void mkInt(Value & v, long long n) { v.mkInt(NixInt(n)); }

/// Makes `v` a list of `n` values; `elem(i)` returns the i-th.
template<typename F>
void mkList(EvalState & state, Value & v, size_t n, F elem)
{
    state.mkList(v, n);
    for (size_t i = 0; i < n; i++)
        v.listElems()[i] = elem(i);
}

/// Registers a primop at load time (called from a static initializer).
inline void addPrimOp(
    const char * name, std::vector<std::string> args, const char * doc, PrimOpImpl impl)
{
    RegisterPrimOp::Info info{
        .name = name,
        .args = std::move(args),
        .arity = 1,
        .doc = doc,
        .fun = impl,
        .experimentalFeature = std::nullopt,
    };
    RegisterPrimOp reg(std::move(info));
}

} // namespace nixproc::compat
