//! What the composer refuses to hand on: `#for` beyond its bounds, expressions deep enough to
//! overflow the stack of naga's WGSL front end, and variables too large for one GPU thread.
//! Each limit is named in its error and in README's "Limits".

use super::Composed;
use crate::error::Error;

/// Most iterations of one `#for`.
pub const MAX_FOR: u64 = 4096;
/// Most lines all the `#for`s of one composition may unroll.
pub const MAX_UNROLLED_LINES: usize = 1 << 16;
/// Deepest expression: open brackets plus the operators of the operands they hold (a chain
/// `a + b + c` nests one level per operator in the parser). Deeper ones would overflow the
/// stack of the WGSL front end.
pub const MAX_EXPRESSION_DEPTH: usize = 512;
/// Largest function-local or private variable, in bytes (a state of 16 components is 64 to
/// 512 bytes): larger ones crash or stall drivers that keep them per thread.
pub const MAX_VARIABLE_BYTES: u64 = 16 << 10;
/// Most bytes of function-local and private variables in one shader, all together.
pub const MAX_VARIABLES_BYTES: u64 = 256 << 10;

impl Composed {
    /// Refuses an expression deeper than [`MAX_EXPRESSION_DEPTH`] at the place it gets too
    /// deep: open `(` and `[`, plus the operators (`.` included) of the operand each holds,
    /// counted from its last `,`; `;`, `{` and `}` end a statement. Comments are skipped.
    pub(super) fn check_depth(&self) -> Result<(), Error> {
        // Operators of the current operand at each open bracket (the first: outside any).
        let mut ops: Vec<usize> = vec![0];
        let mut depth = 0usize;
        let mut comment = 0usize;
        for (l, line) in self.source.lines().enumerate() {
            let chars: Vec<char> = line.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                let (c, next) = (chars[i], chars.get(i + 1).copied());
                i += 1;
                if comment > 0 {
                    match (c, next) {
                        ('*', Some('/')) => (comment, i) = (comment - 1, i + 1),
                        ('/', Some('*')) => (comment, i) = (comment + 1, i + 1),
                        _ => {}
                    }
                    continue;
                }
                match c {
                    '/' if next == Some('/') => break,
                    '/' if next == Some('*') => (comment, i) = (1, i + 1),
                    // A number, with the sign of its exponent (`1e-3`).
                    '0'..='9' => {
                        while i < chars.len()
                            && (chars[i].is_ascii_alphanumeric()
                                || chars[i] == '.'
                                || chars[i] == '_'
                                || (matches!(chars[i], '+' | '-')
                                    && matches!(chars[i - 1], 'e' | 'E' | 'p' | 'P')))
                        {
                            i += 1;
                        }
                    }
                    c if c.is_alphanumeric() || c == '_' => {
                        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                            i += 1;
                        }
                    }
                    '(' | '[' => {
                        ops.push(0);
                        depth += 1;
                    }
                    ')' | ']' if ops.len() > 1 => {
                        depth -= ops.pop().unwrap_or(0) + 1;
                    }
                    ',' => {
                        let top = ops.last_mut().expect("one level at least");
                        depth -= *top;
                        *top = 0;
                    }
                    ';' | '{' | '}' => {
                        ops = vec![0];
                        depth = 0;
                    }
                    '+' | '-' | '*' | '/' | '%' | '&' | '|' | '^' | '!' | '~' | '<' | '>' | '='
                    | '.' => {
                        *ops.last_mut().expect("one level at least") += 1;
                        depth += 1;
                    }
                    _ => {}
                }
                if depth > MAX_EXPRESSION_DEPTH {
                    return Err(self.error_at_line(
                        l + 1,
                        i,
                        format!(
                            "expression nested too deeply: more than {MAX_EXPRESSION_DEPTH} \
                             operators and brackets in one operand; split it with `let`"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Refuses a function-local or private variable larger than [`MAX_VARIABLE_BYTES`], or
    /// all of them together larger than [`MAX_VARIABLES_BYTES`], at the variable.
    pub(super) fn check_variables(&self, module: &naga::Module) -> Result<(), Error> {
        fn bytes(module: &naga::Module, ty: naga::Handle<naga::Type>) -> u64 {
            match &module.types[ty].inner {
                naga::TypeInner::Array { base, size, stride } => {
                    let n = match size {
                        naga::ArraySize::Constant(n) => u64::from(n.get()),
                        _ => 1,
                    };
                    n.saturating_mul(u64::from(*stride).max(bytes(module, *base)))
                }
                naga::TypeInner::Struct { span, .. } => u64::from(*span),
                other => u64::from(other.size(module.to_ctx())),
            }
        }
        let mut all: Vec<(naga::Span, String, u64)> = Vec::new();
        for (h, v) in module.global_variables.iter() {
            if v.space == naga::AddressSpace::Private {
                let span = module.global_variables.get_span(h);
                all.push((
                    span,
                    v.name.clone().unwrap_or_default(),
                    bytes(module, v.ty),
                ));
            }
        }
        let functions = module
            .functions
            .iter()
            .map(|(_, f)| f)
            .chain(module.entry_points.iter().map(|e| &e.function));
        for f in functions {
            for (h, v) in f.local_variables.iter() {
                let span = f.local_variables.get_span(h);
                all.push((
                    span,
                    v.name.clone().unwrap_or_default(),
                    bytes(module, v.ty),
                ));
            }
        }
        let at = |span: naga::Span, message: String| {
            if span.is_defined() {
                self.error_at(span, &message)
            } else {
                Error::Shader {
                    at: None,
                    message,
                    code: None,
                }
            }
        };
        let total = all.iter().fold(0u64, |t, v| t.saturating_add(v.2));
        let Some((span, name, largest)) = all.into_iter().max_by_key(|v| v.2) else {
            return Ok(());
        };
        if largest > MAX_VARIABLE_BYTES {
            return Err(at(
                span,
                format!(
                    "variable `{name}` takes {largest} bytes; a function-local or private \
                     variable may take at most {MAX_VARIABLE_BYTES}"
                ),
            ));
        }
        if total > MAX_VARIABLES_BYTES {
            return Err(at(
                span,
                format!(
                    "function-local and private variables take {total} bytes in all, over the \
                     limit of {MAX_VARIABLES_BYTES}; the largest is `{name}` ({largest} bytes)"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{compose, Source};

    fn src<'a>(name: &'a str, text: &'a str) -> Source<'a> {
        Source::new(name, text)
    }

    fn parse_error(code: &str) -> String {
        let root = src("user", code);
        compose(&[root], &[], &[], &[])
            .unwrap()
            .parse()
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn deep_expressions_are_refused_before_naga_overflows_its_stack() {
        let wrap = |e: String| format!("fn f(x: f32) -> f32 {{\n    return {e};\n}}\n");
        // 20,000 terms overflowed naga's 8 MiB main-thread stack (SIGABRT).
        let chain = wrap(vec!["x"; 20_000].join(" + "));
        let err = parse_error(&chain);
        assert!(
            err.contains("user:2:") && err.contains("expression nested too deeply"),
            "{err}"
        );
        for deep in [
            format!("{}x", "-".repeat(600)),
            format!("{}x{}", "(".repeat(600), ")".repeat(600)),
            format!("vec2<f32>(x){}", ".yx".repeat(600)),
            // Split over lines: one statement all the same.
            vec!["x"; 600].join("\n + "),
        ] {
            let err = parse_error(&wrap(deep));
            assert!(err.contains("expression nested too deeply"), "{err}");
        }
        // Wide is fine: many operands side by side, long sums split by `let`, comments.
        let wide = format!(
            "array<f32, 2000>({})[1]",
            vec!["-1.5e-3 * x"; 2000].join(", ")
        );
        let lets: String = (0..2000)
            .map(|i| format!("let a{i} = x + x + x;\n"))
            .collect();
        let comment = format!("// {}\n/* {} */ x", "+".repeat(5000), "(".repeat(5000));
        for ok in [
            wrap(vec!["x"; 400].join(" + ")),
            wrap(wide),
            format!("fn f(x: f32) -> f32 {{\n{lets}    return x;\n}}\n"),
            wrap(comment),
        ] {
            let root = src("user", &ok);
            compose(&[root], &[], &[], &[]).unwrap().parse().unwrap();
        }
    }

    #[test]
    fn variables_too_large_for_a_thread_are_refused_at_their_line() {
        let err = parse_error(
            "fn f(x: f32) -> f32 {\n    var a: array<f32, 1048576>;\n    return a[0];\n}\n",
        );
        assert!(
            err.contains("user:2:5: variable `a` takes 4194304 bytes")
                && err.contains("may take at most 16384"),
            "{err}"
        );
        let err = parse_error("var<private> big: array<vec4<f32>, 2048>;\n");
        assert!(
            err.contains("user:1:") && err.contains("`big` takes 32768"),
            "{err}"
        );
        let many: String = (0..20)
            .map(|i| format!("var<private> a{i}: array<f32, 4096>;\n"))
            .collect();
        let err = parse_error(&many);
        assert!(
            err.contains("take 327680 bytes in all, over the limit of 262144"),
            "{err}"
        );
        // A state-sized local is fine.
        let root = src(
            "user",
            "fn f() -> f32 {\n    var a: array<f32, 4096>;\n    return a[1];\n}\n",
        );
        compose(&[root], &[], &[], &[]).unwrap().parse().unwrap();
    }
}
