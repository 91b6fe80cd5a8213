// The Nix API shim written for Nix 2.26 (PosIdx positions, NixStringContext, std::function
// primops, error builders). It is the counterpart of nix_api_2_8.cc and does the same
// things; the tests check that it compiles against Nix 2.26.3's headers. It is not linked
// into the plugin built for the installed Nix.
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

[[noreturn]] void fail(EvalState & state, PosIdx pos, const std::string & message)
{
    state.error<EvalError>("builtins.sysvinitScript: " + message).atPos(pos).debugThrow();
}

std::string shorten(const std::string & path)
{
    return path.size() <= 160 ? path : path.substr(0, 160) + "...";
}

/// Converts a forced Nix value into JSON text, collecting the context of every string.
struct ToJson
{
    EvalState & state;
    PosIdx callPos;
    const std::string & process;
    NixStringContext & context;
    std::string out;

    [[noreturn]] void failAt(const std::string & path, const std::string & what)
    {
        fail(state, callPos, "process '" + process + "', attribute '" + shorten(path) + "': " + what);
    }

    void number(double d, const std::string & path)
    {
        if (!std::isfinite(d))
            failAt(path, "the float " + std::to_string(d) + " cannot be represented");
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        std::string s(buf);
        if (s.find_first_of(".eE") == std::string::npos) s += ".0";
        out += s;
    }

    void attrs(Value & v, const std::string & path, int depth, bool dependency)
    {
        if (v.attrs()->get(state.sOutPath) || v.attrs()->get(state.sToString)) {
            if (dependency) {
                out.push_back('{');
                bool first = true;
                for (auto key : {"processName", "name", "sequence"}) {
                    auto a = v.attrs()->get(state.symbols.create(key));
                    if (!a) continue;
                    if (!first) out.push_back(',');
                    first = false;
                    nixproc::appendJsonString(out, key);
                    out.push_back(':');
                    value(*a->value, a->pos, path + "." + key, depth + 1, false);
                }
                out.push_back('}');
                return;
            }
            auto s = state.coerceToString(callPos, v, context,
                "while converting the argument of builtins.sysvinitScript", false, true);
            nixproc::appendJsonString(out, *s);
            return;
        }
        out.push_back('{');
        bool first = true;
        for (auto a : v.attrs()->lexicographicOrder(state.symbols)) {
            std::string name(state.symbols[a->name]);
            if (!first) out.push_back(',');
            first = false;
            nixproc::appendJsonString(out, name);
            out.push_back(':');
            value(*a->value, a->pos, path.empty() ? name : path + "." + name, depth + 1, false);
        }
        out.push_back('}');
    }

    void value(Value & v, PosIdx pos, const std::string & path, int depth, bool dependency)
    {
        if (depth > nixproc::maxSpecDepth)
            failAt(path, "nested more than " + std::to_string(nixproc::maxSpecDepth)
                + " levels deep (is the value recursive?)");
        state.forceValue(v, pos);
        switch (v.type()) {
        case nInt:
            out += std::to_string(v.integer().value);
            break;
        case nFloat:
            number(v.fpoint(), path);
            break;
        case nBool:
            out += v.boolean() ? "true" : "false";
            break;
        case nNull:
            out += "null";
            break;
        case nString:
            copyContext(v, context);
            nixproc::appendJsonString(out, v.string_view());
            break;
        case nPath: {
            auto s = state.coerceToString(pos, v, context,
                "while converting the argument of builtins.sysvinitScript", false, true);
            nixproc::appendJsonString(out, *s);
            break;
        }
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
        default:
            failAt(path, showType(v) + " cannot be used in a process spec");
        }
    }
};

void primSysvinitScript(EvalState & state, const PosIdx pos, Value ** args, Value & v)
{
    Value & spec = *args[0];
    state.forceValue(spec, pos);
    if (spec.type() != nAttrs)
        fail(state, pos, "expected an attribute set describing a process, but got " + showType(spec));

    std::string process = "<unnamed>";
    if (auto a = spec.attrs()->get(state.sName)) {
        state.forceValue(*a->value, a->pos);
        if (a->value->type() == nString) process = std::string(a->value->string_view());
    }

    NixStringContext context;
    ToJson conv{state, pos, process, context, {}};
    conv.out.reserve(4096);
    conv.value(spec, pos, "", 0, false);

    nixproc::Rendered r;
    try {
        r = nixproc::render(conv.out);
    } catch (const nixproc::RenderError & e) {
        fail(state, pos, nixproc::withProcessName(e.what(), process));
    }

    auto files = [&](Value & target, const std::vector<nixproc::RenderedFile> & in) {
        auto b = state.buildBindings(in.size());
        for (auto & f : in)
            b.alloc(f.name).mkString(f.text);
        target.mkAttrs(b);
    };
    auto attrs = state.buildBindings(7);
    attrs.alloc("name").mkString(r.name);
    attrs.alloc("script").mkString(r.script, context);
    attrs.alloc("sequence").mkInt(NixInt::Inner(r.sequence));
    attrs.alloc("stopSequence").mkInt(NixInt::Inner(r.stopSequence));
    auto links = state.buildList(r.links.size());
    for (size_t i = 0; i < r.links.size(); i++) {
        Value * link = state.allocValue();
        auto b = state.buildBindings(2);
        b.alloc("path").mkString(r.links[i].path);
        b.alloc("target").mkString(r.links[i].target);
        link->mkAttrs(b);
        links[i] = link;
    }
    attrs.alloc("links").mkList(links);
    {
        auto b = state.buildBindings(2);
        files(b.alloc("groups"), r.groups);
        files(b.alloc("users"), r.users);
        attrs.alloc("credentials").mkAttrs(b);
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
    RegisterPrimOp reg(PrimOp{
        .name = "__sysvinitScript",
        .args = {"spec"},
        .arity = 1,
        .doc = R"(
          Render the LSB init script, rc.d links, credential files and manifest of the
          process described by the attribute set *spec*. The returned `script` carries the
          string context of every value in *spec*.
        )",
        .fun = primSysvinitScript,
    });
    return true;
}

[[maybe_unused]] const bool registered = registerPrimOp();

} // namespace
