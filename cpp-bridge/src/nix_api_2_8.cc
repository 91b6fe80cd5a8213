// The only file of the plugin that uses Nix's C++ API, written for Nix 2.8.
//
// It registers `__sysvinitScript` (visible as `builtins.sysvinitScript`), turns the argument
// into JSON while collecting string context, calls the renderer through bridge.hh, builds
// the result as a Nix attribute set and gives its `script` the collected context.
// Supporting another Nix version means writing a sibling of this file (see nix_api_2_26.cc).
#include "bridge.hh"

#include "eval.hh"
#include "eval-inline.hh"
#include "globals.hh"
#include "primops.hh"

#include <cmath>
#include <cstdio>
#include <iostream>

namespace {

using namespace nix;

[[noreturn]] void fail(const Pos & pos, const std::string & message)
{
    throw EvalError({
        .msg = hintfmt("builtins.sysvinitScript: " + message),
        .errPos = pos,
    });
}

/// An attribute path cut to a readable length (a recursive value makes it endless).
std::string shorten(const std::string & path)
{
    return path.size() <= 160 ? path : path.substr(0, 160) + "...";
}

/// Converts a forced Nix value into JSON text, collecting the context of every string.
struct ToJson
{
    EvalState & state;
    const Pos & callPos;
    const std::string & process;
    PathSet & context;
    std::string out;

    [[noreturn]] void failAt(const std::string & path, const std::string & what)
    {
        fail(callPos, "process '" + process + "', attribute '" + shorten(path) + "': " + what);
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
        if (v.attrs->find(state.sOutPath) != v.attrs->end() || v.attrs->find(state.symbols.create("__toString")) != v.attrs->end()) {
            if (dependency) {
                // A derivation made for another process: only its names and sequence matter
                // (`processName` is the process name when the store name differs).
                out.push_back('{');
                bool first = true;
                for (auto key : {"processName", "name", "sequence"}) {
                    auto a = v.attrs->get(state.symbols.create(key));
                    if (!a) continue;
                    if (!first) out.push_back(',');
                    first = false;
                    nixproc::appendJsonString(out, key);
                    out.push_back(':');
                    value(*a->value, *a->pos, path + "." + key, depth + 1, false);
                }
                out.push_back('}');
                return;
            }
            // Like string interpolation: a derivation becomes its output path (with context).
            auto s = state.coerceToString(callPos, v, context, false, true);
            nixproc::appendJsonString(out, *s);
            return;
        }
        out.push_back('{');
        bool first = true;
        for (auto a : v.attrs->lexicographicOrder()) {
            const std::string & name = a->name;
            if (!first) out.push_back(',');
            first = false;
            nixproc::appendJsonString(out, name);
            out.push_back(':');
            value(*a->value, *a->pos, path.empty() ? name : path + "." + name, depth + 1,
                false);
        }
        out.push_back('}');
    }

    void value(Value & v, const Pos & pos, const std::string & path, int depth,
        bool dependency)
    {
        if (depth > nixproc::maxSpecDepth)
            failAt(path, "nested more than " + std::to_string(nixproc::maxSpecDepth)
                + " levels deep (is the value recursive?)");
        state.forceValue(v, pos);
        switch (v.type()) {
        case nInt:
            out += std::to_string(v.integer);
            break;
        case nFloat:
            number(v.fpoint, path);
            break;
        case nBool:
            out += v.boolean ? "true" : "false";
            break;
        case nNull:
            out += "null";
            break;
        case nString:
            copyContext(v, context);
            nixproc::appendJsonString(out, v.string.s);
            break;
        case nPath:
            nixproc::appendJsonString(out, state.copyPathToStore(context, v.path));
            break;
        case nAttrs:
            attrs(v, path, depth, dependency);
            break;
        case nList: {
            out.push_back('[');
            size_t i = 0;
            bool deps = path == "dependencies";
            for (auto elem : v.listItems()) {
                if (i) out.push_back(',');
                value(*elem, pos, path + "[" + std::to_string(i) + "]", depth + 1, deps);
                i++;
            }
            out.push_back(']');
            break;
        }
        case nFunction:
            failAt(path, "a function cannot be used in a process spec (is an argument missing?)");
        case nExternal:
        case nThunk:
        default:
            failAt(path, showType(v) + " cannot be used in a process spec");
        }
    }
};

void primSysvinitScript(EvalState & state, const Pos & pos, Value ** args, Value & v)
{
    Value & spec = *args[0];
    state.forceValue(spec, pos);
    if (spec.type() != nAttrs)
        fail(pos, "expected an attribute set describing a process, but got " + showType(spec));

    // The name, when it is a plain string, makes every error message say which process it is.
    std::string process = "<unnamed>";
    if (auto a = spec.attrs->get(state.sName)) {
        state.forceValue(*a->value, *a->pos);
        if (a->value->type() == nString) process = a->value->string.s;
    }

    PathSet context;
    ToJson conv{state, pos, process, context, {}};
    conv.out.reserve(4096);
    conv.value(spec, pos, "", 0, false);

    nixproc::Rendered r;
    try {
        r = nixproc::render(conv.out);
    } catch (const nixproc::RenderError & e) {
        fail(pos, nixproc::withProcessName(e.what(), process));
    }

    // The result, field by field as in the renderer's output contract; only `script`
    // carries the collected context.
    auto files = [&](Value & target, const std::vector<nixproc::RenderedFile> & in) {
        auto b = state.buildBindings(in.size());
        for (auto & f : in)
            b.alloc(f.name).mkString(f.text);
        target.mkAttrs(b);
    };
    auto attrs = state.buildBindings(7);
    attrs.alloc("name").mkString(r.name);
    attrs.alloc("script").mkString(r.script, context);
    attrs.alloc("sequence").mkInt(r.sequence);
    attrs.alloc("stopSequence").mkInt(r.stopSequence);
    Value & links = attrs.alloc("links");
    state.mkList(links, r.links.size());
    for (size_t i = 0; i < r.links.size(); i++) {
        Value * link = state.allocValue();
        auto b = state.buildBindings(2);
        b.alloc("path").mkString(r.links[i].path);
        b.alloc("target").mkString(r.links[i].target);
        link->mkAttrs(b);
        links.listElems()[i] = link;
    }
    Value & credentials = attrs.alloc("credentials");
    {
        auto b = state.buildBindings(2);
        files(b.alloc("groups"), r.groups);
        files(b.alloc("users"), r.users);
        credentials.mkAttrs(b);
    }
    attrs.alloc("manifest").mkString(r.manifest);
    v.mkAttrs(attrs);
}

bool registerPrimOp()
{
    if (!nixproc::nixVersionMatches(nixVersion)) {
        std::cerr << "warning: nixproc-sysvinit plugin was built for Nix "
                  << nixproc::compiledNixVersion() << " but this is Nix " << nixVersion
                  << "; builtins.sysvinitScript is not available (rebuild the plugin)"
                  << std::endl;
        return false;
    }
    RegisterPrimOp::Info info{
        .name = "__sysvinitScript",
        .args = {"spec"},
        .arity = 1,
        .doc = R"(
          Render the LSB init script, rc.d links, credential files and manifest of the
          process described by the attribute set *spec*. The returned `script` carries the
          string context of every value in *spec*.
        )",
        .fun = primSysvinitScript,
        .experimentalFeature = std::nullopt,
    };
    RegisterPrimOp reg(std::move(info));
    return true;
}

[[maybe_unused]] const bool registered = registerPrimOp();

} // namespace
