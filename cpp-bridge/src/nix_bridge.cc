// The plugin's use of Nix's C++ API, written once for every supported Nix version.
//
// It registers two primops taking a process description:
// - `__sysvinitScript` (visible as `builtins.sysvinitScript`) turns the argument into JSON
//   while collecting string context, calls the renderer through bridge.hh, builds the
//   result as a Nix attribute set and gives its `script` the collected context;
// - `__sysvinitCheck` (`builtins.sysvinitCheck`) converts the argument the same way and
//   checks it as the renderer would, returning null when it is valid and the renderer's
//   message otherwise (so the caller can report it at the user's file and line).
//
// Every operation whose spelling differs between Nix versions goes through
// `nixproc::compat`, an adapter header chosen here by NIXPROC_NIX_MINOR (defined by build.rs
// from the Nix version it builds against): compat_2_8.hh for Nix 2.8, compat_2_26.hh for
// 2.26 and later. Supporting another version means extending an adapter, not this file.
#include "bridge.hh"

#ifndef NIXPROC_NIX_MINOR
#error "NIXPROC_NIX_MINOR must be defined by the build (the minor version of the Nix headers)"
#endif
#if NIXPROC_NIX_MINOR >= 26
#include "compat_2_26.hh"
#else
#include "compat_2_8.hh"
#endif

#include <cmath>
#include <cstdio>
#include <iostream>

namespace {

using namespace nix;
using nixproc::compat::Context;
using nixproc::compat::PosArg;
namespace compat = nixproc::compat;

[[noreturn]] void fail(EvalState & state, PosArg pos, const std::string & message)
{
    compat::throwError(state, pos, "builtins.sysvinitScript: " + message);
}

/// An attribute path cut to a readable length (a recursive value makes it endless).
std::string shorten(const std::string & path)
{
    return path.size() <= 160 ? path : path.substr(0, 160) + "...";
}

/// Converts a forced Nix value into JSON text, collecting the context of every string.
struct ToJson {
    EvalState & state;
    PosArg callPos;
    const std::string & process;
    Context & context;
    Symbol sOutPath = state.symbols.create("outPath");
    Symbol sToString = state.symbols.create("__toString");
    std::string out;

    /// A value that has no JSON form; the primops report it (see convert).
    [[noreturn]] void failAt(const std::string & path, const std::string & what)
    {
        throw nixproc::RenderError(
            "process '" + process + "', attribute '" + shorten(path) + "': " + what);
    }

    void number(double d, const std::string & path)
    {
        if (!std::isfinite(d))
            failAt(path, "the float " + std::to_string(d) + " cannot be represented");
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        std::string s(buf);
        // Keep floats recognisable as floats, so "2.0 where an integer is expected" is
        // reported instead of silently accepted.
        if (s.find_first_of(".eE") == std::string::npos) s += ".0";
        out += s;
    }

    void attrs(Value & v, const std::string & path, int depth, bool dependency)
    {
        auto & bindings = compat::attrsOf(v);
        if (bindings.get(sOutPath) || bindings.get(sToString)) {
            if (dependency) {
                // A derivation made for another process: only its names and sequence matter
                // (`processName` is the process name when the store name differs).
                out.push_back('{');
                bool first = true;
                for (auto key : {"processName", "name", "sequence"}) {
                    auto a = bindings.get(state.symbols.create(key));
                    if (!a) continue;
                    if (!first) out.push_back(',');
                    first = false;
                    nixproc::appendJsonString(out, key);
                    out.push_back(':');
                    value(*a->value, compat::attrPos(*a), path + "." + key, depth + 1, false);
                }
                out.push_back('}');
                return;
            }
            // Like string interpolation: a derivation becomes its output path (with context).
            nixproc::appendJsonString(out, compat::coerceToString(state, callPos, v, context));
            return;
        }
        out.push_back('{');
        bool first = true;
        for (auto a : compat::sortedAttrs(state, v)) {
            std::string name = compat::attrName(state, *a);
            if (!first) out.push_back(',');
            first = false;
            nixproc::appendJsonString(out, name);
            out.push_back(':');
            value(*a->value, compat::attrPos(*a), path.empty() ? name : path + "." + name,
                depth + 1, false);
        }
        out.push_back('}');
    }

    void value(Value & v, PosArg pos, const std::string & path, int depth, bool dependency)
    {
        if (depth > nixproc::maxSpecDepth)
            failAt(path,
                "nested more than " + std::to_string(nixproc::maxSpecDepth)
                    + " levels deep (is the value recursive?)");
        state.forceValue(v, pos);
        switch (v.type()) {
        case nInt: out += std::to_string(compat::intOf(v)); break;
        case nFloat: number(compat::floatOf(v), path); break;
        case nBool: out += compat::boolOf(v) ? "true" : "false"; break;
        case nNull: out += "null"; break;
        case nString:
            copyContext(v, context);
            nixproc::appendJsonString(out, compat::stringOf(v));
            break;
        case nPath:
            nixproc::appendJsonString(out, compat::pathToStore(state, pos, v, context));
            break;
        case nAttrs: attrs(v, path, depth, dependency); break;
        case nList: {
            out.push_back('[');
            size_t i = 0;
            bool deps = nixproc::isProcessList(path);
            for (auto elem : compat::listItems(v)) {
                if (i) out.push_back(',');
                value(*elem, pos, path + "[" + std::to_string(i) + "]", depth + 1, deps);
                i++;
            }
            out.push_back(']');
            break;
        }
        case nFunction:
            failAt(path, "a function cannot be used in a process spec (is an argument missing?)");
        default: failAt(path, showType(v) + " cannot be used in a process spec");
        }
    }
};

/// Makes `target` an attribute set of credential files: name = text.
void mkFiles(EvalState & state, Value & target, const std::vector<nixproc::RenderedFile> & in)
{
    auto b = state.buildBindings(in.size());
    for (auto & f : in)
        compat::mkString(state, b.alloc(f.name), f.text);
    target.mkAttrs(b);
}

/// The name of the process `spec` (an attribute set) describes, for messages: its `name`
/// when that is a string, after forcing it; "<unnamed>" otherwise.
std::string processOf(EvalState & state, Value & spec)
{
    if (auto a = compat::attrsOf(spec).get(state.symbols.create("name"))) {
        state.forceValue(*a->value, compat::attrPos(*a));
        if (a->value->type() == nString) return std::string(compat::stringOf(*a->value));
    }
    return "<unnamed>";
}

/// The spec's JSON text; its strings' context is added to `context`. A value without a JSON
/// form throws nixproc::RenderError naming the process; errors of Nix (a `throw` in the
/// spec, a spec that is not an attribute set) propagate.
std::string convert(EvalState & state, PosArg pos, Value & spec, Context & context)
{
    state.forceValue(spec, pos);
    if (spec.type() != nAttrs)
        fail(state, pos,
            "expected an attribute set describing a process, but got " + showType(spec));
    std::string process = processOf(state, spec);
    ToJson conv{state, pos, process, context};
    conv.out.reserve(4096);
    try {
        conv.value(spec, pos, "", 0, false);
    } catch (const nixproc::RenderError & e) {
        throw nixproc::RenderError(nixproc::withProcessName(e.what(), process));
    }
    return std::move(conv.out);
}

void primSysvinitCheck(EvalState & state, PosArg pos, Value ** args, Value & v)
{
    Context context;
    try {
        nixproc::check(convert(state, pos, *args[0], context));
        v.mkNull();
    } catch (const nixproc::RenderError & e) {
        compat::mkString(state, v, nixproc::withProcessName(e.what(), processOf(state, *args[0])));
    }
}

void primSysvinitScript(EvalState & state, PosArg pos, Value ** args, Value & v)
{
    Value & spec = *args[0];
    Context context;
    nixproc::Rendered r;
    try {
        r = nixproc::render(convert(state, pos, spec, context));
    } catch (const nixproc::RenderError & e) {
        fail(state, pos, nixproc::withProcessName(e.what(), processOf(state, spec)));
    }

    // The result, field by field as in the renderer's output contract; only `script`
    // carries the collected context.
    auto attrs = state.buildBindings(9);
    compat::mkString(state, attrs.alloc("name"), r.name);
    compat::mkString(state, attrs.alloc("script"), r.script, context);
    compat::mkInt(attrs.alloc("sequence"), r.sequence);
    compat::mkInt(attrs.alloc("stopSequence"), r.stopSequence);
    compat::mkList(state, attrs.alloc("links"), r.links.size(), [&](size_t i) {
        Value * link = state.allocValue();
        auto b = state.buildBindings(2);
        compat::mkString(state, b.alloc("path"), r.links[i].path);
        compat::mkString(state, b.alloc("target"), r.links[i].target);
        link->mkAttrs(b);
        return link;
    });
    {
        auto b = state.buildBindings(2);
        mkFiles(state, b.alloc("groups"), r.groups);
        mkFiles(state, b.alloc("users"), r.users);
        attrs.alloc("credentials").mkAttrs(b);
    }
    compat::mkString(state, attrs.alloc("manifest"), r.manifest);
    mkFiles(state, attrs.alloc("runtimeFiles"), r.runtimeFiles);
    mkFiles(state, attrs.alloc("files"), r.files);
    v.mkAttrs(attrs);
}

/// Registers the primops, unless this Nix is not the version the plugin was built for.
bool registerPrimOp()
{
    if (!nixproc::nixVersionMatches(nixVersion)) {
        std::cerr << "warning: nixproc-sysvinit plugin was built for Nix "
                  << nixproc::compiledNixVersion() << " but this is Nix " << nixVersion
                  << "; builtins.sysvinitScript is not available (rebuild the plugin)" << std::endl;
        return false;
    }
    compat::addPrimOp("__sysvinitScript", {"spec"}, R"(
          Render the LSB init script, rc.d links, credential files and manifest of the
          process described by the attribute set *spec*. The returned `script` carries the
          string context of every value in *spec*.
        )",
        primSysvinitScript);
    compat::addPrimOp("__sysvinitCheck", {"spec"}, R"(
          Check the process described by the attribute set *spec* as
          `builtins.sysvinitScript` would, without rendering it: null when it is valid,
          otherwise the renderer's message (naming the process and the attribute).
        )",
        primSysvinitCheck);
    return true;
}

[[maybe_unused]] const bool registered = registerPrimOp();

} // namespace
