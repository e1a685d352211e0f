//! A token-level reading of WGSL that knows comments (`//` to the end of the line, nested
//! `/* */`) and the composer's directive lines (`#ifdef`, `#for`, ...), enough to see what
//! code declares at its top level and what it may not contain, without a compiler: which
//! functions a system defines (`drift`, `stop`, `project`, ...), a name that clashes with
//! throng's, a `{` never closed, resource bindings, entry points, loops and `discard`. WGSL has no
//! string literals, so outside comments every `fn NAME` is a function.

/// What a top-level declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fn,
    Struct,
    Alias,
    Const,
    Override,
    Var,
}

impl Kind {
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Fn => "fn",
            Kind::Struct => "struct",
            Kind::Alias => "alias",
            Kind::Const => "const",
            Kind::Override => "override",
            Kind::Var => "var",
        }
    }
}

/// A top-level declaration: its kind, name and the byte offset of the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decl {
    pub kind: Kind,
    pub name: String,
    pub at: usize,
}

/// Something the code may not contain, at a byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub at: usize,
    pub message: String,
}

/// The top-level declarations of some WGSL, and the first thing wrong with its structure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outline {
    pub decls: Vec<Decl>,
    pub problem: Option<Problem>,
}

impl Outline {
    /// Whether the code defines `fn NAME`.
    pub fn defines(&self, name: &str) -> bool {
        self.decls
            .iter()
            .any(|d| d.kind == Kind::Fn && d.name == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Token<'a> {
    text: &'a str,
    at: usize,
}

fn ident_char(c: char) -> bool {
    // `$` belongs to names that `#for` substitutes (`noise_term_$c`).
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The tokens of `code` outside comments and directive lines: identifiers and numbers as
/// one token each, any other character as a token of its own. An unterminated `/*` is a
/// problem.
fn tokens(code: &str) -> (Vec<Token<'_>>, Option<Problem>) {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if line_start && c == b'#' {
            // A composer directive: the rest of the line.
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        line_start = false;
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if b[i..].starts_with(b"/*") {
            let start = i;
            let mut depth = 0usize;
            loop {
                if i >= b.len() {
                    return (
                        out,
                        Some(Problem {
                            at: start,
                            message: "this `/*` comment is never closed (a `*/` is missing)".into(),
                        }),
                    );
                }
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            continue;
        }
        let ch = code[i..].chars().next().expect("i is on a char boundary");
        let len = if ident_char(ch) {
            code[i..]
                .char_indices()
                .find(|(_, c)| !ident_char(*c))
                .map_or(code.len() - i, |(k, _)| k)
        } else {
            ch.len_utf8()
        };
        out.push(Token {
            text: &code[i..i + len],
            at: i,
        });
        i += len;
    }
    (out, None)
}

fn is_name(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The top-level declarations of `code` and the first structural problem: a `{` never
/// closed, a `}` that closes nothing, a function declared inside another (a `}` missing),
/// resource bindings (`@group`, `@binding`, `var<storage>`, `var<uniform>`,
/// `var<workgroup>`), entry points (`@compute`, ...) and `discard`.
pub fn outline(code: &str) -> Outline {
    let (toks, mut problem) = tokens(code);
    // The earliest problem is the one reported.
    fn keep(problem: &mut Option<Problem>, p: Problem) {
        if problem.as_ref().is_none_or(|q| p.at < q.at) {
            *problem = Some(p);
        }
    }
    let mut decls = Vec::new();
    // Unclosed `{` (and `(`, `[`) in order.
    let mut open: Vec<Token> = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        let t = toks[k];
        let next = toks.get(k + 1).copied();
        let top = open.is_empty();
        match t.text {
            "{" | "(" | "[" => open.push(t),
            "}" | ")" | "]" => {
                let want = match t.text {
                    "}" => "{",
                    ")" => "(",
                    _ => "[",
                };
                match open.last() {
                    Some(o) if o.text == want => {
                        open.pop();
                    }
                    Some(o) => {
                        keep(&mut problem, Problem {
                            at: o.at,
                            message: format!(
                                "this `{}` is not closed before the `{}` that follows",
                                o.text, t.text
                            ),
                        });
                        // Resynchronise on the matching opener, if any.
                        if let Some(p) = open.iter().rposition(|o| o.text == want) {
                            open.truncate(p);
                        }
                    }
                    None => keep(&mut problem, Problem {
                        at: t.at,
                        message: format!(
                            "this `{}` closes nothing (a `{want}` is missing, or one `{}` too many)",
                            t.text, t.text
                        ),
                    }),
                }
            }
            // Without loops a system's functions always return: a loop that never ends
            // would hang the device or be compiled away into garbage, and no compiler can
            // tell which loops end. `#for` unrolls at composition instead.
            "loop" | "while" | "for" => keep(
                &mut problem,
                Problem {
                    at: t.at,
                    message: format!(
                        "`{}`: loops are refused in a system's code, since throng cannot bound \
                         them; unroll with `#for i in N` ... `#endfor` (N at most the state's \
                         size or a constant)",
                        t.text
                    ),
                },
            ),
            "discard" => keep(
                &mut problem,
                Problem {
                    at: t.at,
                    message: "`discard` is for fragment shaders; throng's kernels are compute \
                          shaders (return a value instead, e.g. a NaN that marks the trajectory)"
                        .into(),
                },
            ),
            "@" => {
                if let Some(a) = next {
                    match a.text {
                        "group" | "binding" => keep(
                            &mut problem,
                            Problem {
                                at: t.at,
                                message: format!(
                                "`@{}`: resource bindings are throng's; a system reads its data \
                                 as parameters (`p.NAME`), with --values for a table of them",
                                a.text
                            ),
                            },
                        ),
                        "compute" | "vertex" | "fragment" | "workgroup_size" => keep(
                            &mut problem,
                            Problem {
                                at: t.at,
                                message: format!(
                                    "`@{}`: entry points are throng's; a system defines functions \
                                 (`drift`, `diffusion`, ...) that throng's kernels call",
                                    a.text
                                ),
                            },
                        ),
                        _ => {}
                    }
                }
            }
            "fn" | "struct" | "alias" if !top => {
                let fn_open = open.iter().any(|o| o.text == "{");
                if fn_open {
                    keep(
                        &mut problem,
                        Problem {
                            at: t.at,
                            message: format!(
                                "`{}` inside a function: a `}}` is missing before it",
                                t.text
                            ),
                        },
                    );
                }
                // Read the declaration as if at the top, so its name is still known.
                if let Some(n) = next.filter(|n| is_name(n.text)) {
                    decls.push(Decl {
                        kind: if t.text == "fn" {
                            Kind::Fn
                        } else if t.text == "struct" {
                            Kind::Struct
                        } else {
                            Kind::Alias
                        },
                        name: n.text.to_string(),
                        at: n.at,
                    });
                }
            }
            "fn" | "struct" | "alias" | "const" | "override" | "var" if top => {
                let kind = match t.text {
                    "fn" => Kind::Fn,
                    "struct" => Kind::Struct,
                    "alias" => Kind::Alias,
                    "const" => Kind::Const,
                    "override" => Kind::Override,
                    _ => Kind::Var,
                };
                let mut j = k + 1;
                if kind == Kind::Var && toks.get(j).is_some_and(|t| t.text == "<") {
                    // var<space[, access]>
                    let space = toks.get(j + 1).copied();
                    if let Some(s) = space.filter(|s| {
                        matches!(s.text, "storage" | "uniform" | "workgroup" | "handle")
                    }) {
                        keep(
                            &mut problem,
                            Problem {
                                at: t.at,
                                message: format!(
                                "`var<{}>`: resource bindings are throng's; a system reads its \
                                 data as parameters (`p.NAME`), with --values for a table of them",
                                s.text
                            ),
                            },
                        );
                    }
                    while j < toks.len() && toks[j].text != ">" {
                        j += 1;
                    }
                    j += 1;
                }
                if let Some(n) = toks.get(j).filter(|n| is_name(n.text)) {
                    decls.push(Decl {
                        kind,
                        name: n.text.to_string(),
                        at: n.at,
                    });
                }
            }
            _ => {}
        }
        k += 1;
    }
    // A `{` never closed, when nothing earlier explains it (a `fn` inside a function says
    // better where the `}` is missing).
    if let Some(o) = open.first().filter(|_| problem.is_none()).copied() {
        let close = match o.text {
            "{" => "}",
            "(" => ")",
            _ => "]",
        };
        keep(
            &mut problem,
            Problem {
                at: o.at,
                message: format!("this `{}` is never closed (a `{close}` is missing)", o.text),
            },
        );
    }
    Outline { decls, problem }
}

/// Whether `name` may name a parameter or state component: a WGSL identifier (letters,
/// digits, `_`; not a digit first, not `_` alone, not `__` first) that is not one of WGSL's
/// keywords or reserved words (the WGSL specification's lists, as naga keeps them).
pub fn name_problem(name: &str) -> Option<String> {
    let mut c = name.chars();
    let ident = matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && !name.starts_with("__")
        && name != "_";
    if !ident {
        return Some(format!(
            "`{name}` is not a valid name (letters, digits, _; not starting with a digit or __, not _ alone)"
        ));
    }
    if naga::keywords::wgsl::RESERVED.contains(&name) {
        return Some(format!(
            "`{name}` is a WGSL keyword or reserved word; choose another name"
        ));
    }
    None
}

/// A function's first parameter: its name, the byte offset and text of its type, and
/// whether the body names it (outside comments; `.t` member access is not a use). A body that
/// shadows it counts as using it, which errs on the safe side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstParam {
    pub name: String,
    pub ty: String,
    pub ty_at: usize,
    pub used: bool,
}

/// The first parameter of the top-level `fn NAME`, if the code defines it with one.
pub fn first_param(code: &str, name: &str) -> Option<FirstParam> {
    let (toks, _) = tokens(code);
    let is_decl = |w: &[Token]| w[0].text == "fn" && w[1].text == name && w[2].text == "(";
    // Two definitions (under `#ifdef`s) may differ: which one a run composes is not known here.
    if toks.windows(3).filter(|w| is_decl(w)).count() != 1 {
        return None;
    }
    let k = toks.windows(3).position(is_decl)?;
    let (pname, colon, ty) = (toks.get(k + 3)?, toks.get(k + 4)?, toks.get(k + 5)?);
    if !is_name(pname.text) || colon.text != ":" || !is_name(ty.text) {
        return None;
    }
    // The body: from the first `{` after the parameters to its matching `}`.
    let open = k + toks[k..].iter().position(|t| t.text == "{")?;
    let mut depth = 0usize;
    let mut used = false;
    for (j, t) in toks.iter().enumerate().skip(open) {
        match t.text {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            s if s == pname.text => used |= toks[j - 1].text != ".",
            _ => {}
        }
    }
    Some(FirstParam {
        name: pname.text.to_string(),
        ty: ty.text.to_string(),
        ty_at: ty.at,
        used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_parameter_and_its_use() {
        let lorenz = "// fn drift(t: F) uses t
fn drift(t: F, x: S, p: Params) -> S {
    // t
    return S(p.t * x[1], x[0], x[2]);
}
fn other(t: F) -> F { return t; }
";
        let f = first_param(lorenz, "drift").expect("drift");
        assert_eq!((f.name.as_str(), f.ty.as_str(), f.used), ("t", "F", false));
        assert_eq!(&lorenz[f.ty_at..f.ty_at + 1], "F");
        let forced = "fn drift(s: F, x: S, p: Params) -> S {
    return S(x[1], cos(p.w * s) - x[0]);
}
";
        assert!(first_param(forced, "drift").expect("drift").used);
        assert!(first_param(forced, "diffusion").is_none());
        assert!(first_param("fn drift() -> S { return S(); }", "drift").is_none());
        let twice = "#ifdef A\nfn drift(t: F, x: S, p: Params) -> S { return x; }\n#else\nfn drift(t: F, x: S, p: Params) -> S { return x * t; }\n#endif\n";
        assert!(first_param(twice, "drift").is_none());
    }

    fn names(code: &str) -> Vec<(Kind, String)> {
        outline(code)
            .decls
            .into_iter()
            .map(|d| (d.kind, d.name))
            .collect()
    }

    fn problem(code: &str) -> (usize, String) {
        let p = outline(code).problem.expect("a problem");
        (p.at, p.message)
    }

    #[test]
    fn comments_and_directives_hide_declarations() {
        let code = "// fn stop(t: F) -> B {}\n/* fn event() {} /* nested */ fn payoff() {} */\n\
                    #ifdef X\nfn drift(t: F, x: S, p: Params) -> S { return x; }\n#endif\n\
                    fn project(x: S, p: Params) -> S { return x; } // fn linear\n";
        assert_eq!(
            names(code),
            [
                (Kind::Fn, "drift".to_string()),
                (Kind::Fn, "project".to_string())
            ]
        );
        let o = outline(code);
        assert!(o.problem.is_none(), "{o:?}");
        assert!(o.defines("drift") && o.defines("project") && !o.defines("stop"));
        // `#for` unrolls at composition: not a loop of the code.
        let unrolled = "fn z(x: S) -> S {\n    var y: S;\n#for c in DIM\n    y[$c] = -x[$c];\n#endfor\n    return y; // a for loop\n}\n";
        assert!(outline(unrolled).problem.is_none());
    }

    #[test]
    fn every_kind_of_declaration_is_named() {
        let code = "struct Words { a: u32 }\nalias Q = f32;\nconst K: f32 = 1.0;\n\
                    override O: f32;\nvar<private> v: f32;\nvar w: f32;\nfn f() { const local = 1; }\n";
        assert_eq!(
            names(code),
            [
                (Kind::Struct, "Words".to_string()),
                (Kind::Alias, "Q".to_string()),
                (Kind::Const, "K".to_string()),
                (Kind::Override, "O".to_string()),
                (Kind::Var, "v".to_string()),
                (Kind::Var, "w".to_string()),
                (Kind::Fn, "f".to_string()),
            ]
        );
    }

    #[test]
    fn structural_problems_are_found_where_they_are() {
        // A missing `}`: at the `fn` that follows, else at the `{` never closed.
        let code = "fn a() {\n  return;\nfn b() {}\n";
        let (at, m) = problem(code);
        assert_eq!(at, code.find("fn b").unwrap());
        assert!(m.contains("a `}` is missing"), "{m}");
        let code = "fn drift() -> S {\n  if (c) {\n  }\n";
        let (at, m) = problem(code);
        assert_eq!(
            (at, m.as_str()),
            (16, "this `{` is never closed (a `}` is missing)")
        );
        let (at, m) = problem("fn a() {}\n}\n");
        assert_eq!(at, 10);
        assert!(m.contains("closes nothing"), "{m}");
        let (at, m) = problem("fn a() { let v = f(1; }\n");
        assert_eq!(at, 18);
        assert!(m.contains("not closed"), "{m}");
        let (at, m) = problem("fn a() {} /* open\n");
        assert_eq!(at, 10);
        assert!(m.contains("never closed"), "{m}");
        for (code, what) in [
            (
                "@group(0) @binding(1) var<storage> t: array<f32>;",
                "`@group`",
            ),
            ("var<uniform> u: f32;", "`var<uniform>`"),
            ("var<workgroup> u: f32;", "`var<workgroup>`"),
            ("@compute @workgroup_size(1) fn main() {}", "`@compute`"),
            ("fn a() {\n  if (x) { discard; }\n}", "`discard`"),
            ("fn a() {\n  loop { }\n}", "`loop`: loops are refused"),
            ("fn a() {\n  while (true) { }\n}", "`while`"),
            ("fn a() -> f32 {\n  var s = 0.0;\n  for (var i = 0; i < 3; i++) { s += 1.0; }\n  return s;\n}", "`for`"),
        ] {
            let (_, m) = problem(code);
            assert!(m.contains(what), "{code}: {m}");
        }
    }

    #[test]
    fn names_are_checked_against_wgsl_keywords() {
        for bad in [
            "fn", "loop", "self", "override", "_", "Self", "mut", "1x", "__x", "a-b",
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        for good in ["x", "_x", "sigma2", "f32", "vec3", "rho"] {
            assert_eq!(name_problem(good), None, "{good}");
        }
    }
}
