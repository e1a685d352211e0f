//! WGSL composition: `#import NAME`, `#ifdef FLAG` / `#ifndef FLAG` / `#else` / `#endif`,
//! with a map from every composed line back to its module and line, so errors point at the
//! text a person wrote. Then validation with naga before any pipeline is built.

use std::collections::HashSet;

use naga::common::wgsl::TypeContext;

use crate::error::{Error, Location};
use crate::system::CodeOrigin;

mod limits;

pub use limits::{
    MAX_EXPRESSION_DEPTH, MAX_FOR, MAX_UNROLLED_LINES, MAX_VARIABLES_BYTES, MAX_VARIABLE_BYTES,
};

/// The WGSL modules shipped with throng, by import name.
pub const MODULES: &[(&str, &str)] = &[
    ("philox", include_str!("../shaders/philox.wgsl")),
    ("normal", include_str!("../shaders/normal.wgsl")),
    ("phi", include_str!("../shaders/phi.wgsl")),
    ("math", include_str!("../shaders/math.wgsl")),
    ("noise", include_str!("../shaders/noise.wgsl")),
    ("tree", include_str!("../shaders/tree.wgsl")),
    ("state", include_str!("../shaders/state.wgsl")),
    ("chunk", include_str!("../shaders/chunk.wgsl")),
    ("store", include_str!("../shaders/store.wgsl")),
    ("tally", include_str!("../shaders/tally.wgsl")),
    ("integrate", include_str!("../shaders/integrate.wgsl")),
    ("fixed", include_str!("../shaders/fixed.wgsl")),
    ("controller", include_str!("../shaders/controller.wgsl")),
    ("adaptive", include_str!("../shaders/adaptive.wgsl")),
    (
        "sde_controller",
        include_str!("../shaders/sde_controller.wgsl"),
    ),
    ("exponential", include_str!("../shaders/exponential.wgsl")),
    // One file per method (`MethodInfo::shader`).
    ("methods/em", include_str!("../shaders/methods/em.wgsl")),
    (
        "methods/milstein",
        include_str!("../shaders/methods/milstein.wgsl"),
    ),
    ("methods/heun", include_str!("../shaders/methods/heun.wgsl")),
    (
        "methods/setd1",
        include_str!("../shaders/methods/setd1.wgsl"),
    ),
    (
        "methods/etdrk2",
        include_str!("../shaders/methods/etdrk2.wgsl"),
    ),
    (
        "methods/etdrk4",
        include_str!("../shaders/methods/etdrk4.wgsl"),
    ),
    ("methods/rk4", include_str!("../shaders/methods/rk4.wgsl")),
    (
        "methods/iterate",
        include_str!("../shaders/methods/iterate.wgsl"),
    ),
    (
        "methods/dopri5",
        include_str!("../shaders/methods/dopri5.wgsl"),
    ),
    (
        "methods/adaptive_heun",
        include_str!("../shaders/methods/adaptive_heun.wgsl"),
    ),
    (
        "methods/adaptive_milstein",
        include_str!("../shaders/methods/adaptive_milstein.wgsl"),
    ),
    (
        "methods/adaptive_sra1",
        include_str!("../shaders/methods/adaptive_sra1.wgsl"),
    ),
    ("partial", include_str!("../shaders/partial.wgsl")),
    ("fused", include_str!("../shaders/fused.wgsl")),
    ("reduce", include_str!("../shaders/reduce.wgsl")),
    ("observe", include_str!("../shaders/observe.wgsl")),
    ("functionals", include_str!("../shaders/functionals.wgsl")),
    ("rng", include_str!("../shaders/rng.wgsl")),
];

/// The text of the built-in module `name`.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|m| m.0 == name).map(|m| m.1)
}

/// Where a composed line came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub module: String,
    /// 1-based line in that module.
    pub line: usize,
}

/// A composed shader and the origin of each of its lines.
#[derive(Clone, Debug)]
pub struct Composed {
    pub source: String,
    pub origins: Vec<Origin>,
    /// Where the user's code sits in its file, for a module whose characters are not simply
    /// lines of that file (`CodeOrigin::runs`).
    pub places: Vec<CodeOrigin>,
}

/// A named piece of WGSL given to the composer (a built-in module, generated text, or a
/// user's code, which may start `line_offset` lines into its file).
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
    pub line_offset: usize,
    /// Where each character of a user's code sits in its file, when it is not simply
    /// `line_offset` lines down.
    pub origin: Option<&'a CodeOrigin>,
}

impl<'a> Source<'a> {
    pub fn new(name: &'a str, text: &'a str) -> Source<'a> {
        Source {
            name,
            text,
            line_offset: 0,
            origin: None,
        }
    }

    /// A user's code, named and placed in its file by `origin`.
    pub fn code(text: &'a str, origin: &'a CodeOrigin) -> Source<'a> {
        Source {
            name: &origin.name,
            text,
            line_offset: origin.line_offset,
            origin: Some(origin),
        }
    }
}

/// Composes `parts` in order, resolving imports from `extra` first and then [`MODULES`].
/// Each module is included once, where it is first imported. `consts` give the trip counts
/// that `#for NAME in CONST` may name.
pub fn compose(
    parts: &[Source],
    extra: &[Source],
    flags: &[&str],
    consts: &[(&str, u32)],
) -> Result<Composed, Error> {
    let mut c = Composer {
        out: Composed {
            source: String::new(),
            origins: Vec::new(),
            places: parts
                .iter()
                .filter_map(|p| p.origin)
                .filter(|o| !o.runs.is_empty())
                .cloned()
                .collect(),
        },
        done: HashSet::new(),
        unrolled: 0,
        extra,
        flags,
        consts,
    };
    for part in parts {
        c.done.insert(part.name.to_string());
    }
    for part in parts {
        c.add_module(part.name, part.text, part.line_offset, 0)?;
    }
    Ok(c.out)
}

struct Composer<'a> {
    out: Composed,
    done: HashSet<String>,
    /// Lines unrolled by `#for` so far.
    unrolled: usize,
    extra: &'a [Source<'a>],
    flags: &'a [&'a str],
    consts: &'a [(&'a str, u32)],
}

/// One source line and its 1-based number in its module.
type Line = (usize, String);

impl Composer<'_> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.text)
            .or_else(|| module(name))
    }

    fn add_module(
        &mut self,
        module: &str,
        text: &str,
        offset: usize,
        depth: usize,
    ) -> Result<(), Error> {
        if depth > 32 {
            return Err(Error::Shader {
                at: Some(Location::file(module)),
                message: "imports nested too deeply".into(),
                code: None,
            });
        }
        let lines: Vec<Line> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1 + offset, l.to_string()))
            .collect();
        self.add_lines(module, &lines, depth)
    }

    fn trip_count(&self, module: &str, lineno: usize, what: &str) -> Result<u64, Error> {
        let at = || Some(Location::line(module, lineno));
        let n = what
            .parse::<u64>()
            .ok()
            .or_else(|| {
                self.consts
                    .iter()
                    .find(|c| c.0 == what)
                    .map(|c| u64::from(c.1))
            })
            .ok_or_else(|| Error::Shader {
                at: at(),
                message: format!("unknown trip count `{what}`"),
                code: None,
            })?;
        if n > MAX_FOR {
            return Err(Error::Shader {
                at: at(),
                message: format!("`#for` runs {n} times; the limit is {MAX_FOR}"),
                code: None,
            });
        }
        Ok(n)
    }

    fn add_lines(&mut self, module: &str, lines: &[Line], depth: usize) -> Result<(), Error> {
        // Stack of (this branch active, some branch of this #if was taken).
        let mut stack: Vec<(bool, bool)> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let (lineno, line) = (lines[i].0, &lines[i].1);
            i += 1;
            let active = stack.iter().all(|s| s.0);
            let t = line.trim();
            let directive_err = |what: &str| Error::Shader {
                at: Some(Location::line(module, lineno)),
                message: what.to_string(),
                code: None,
            };
            if let Some(rest) = t.strip_prefix("#ifdef") {
                let on = self.flags.contains(&rest.trim());
                stack.push((on, on));
            } else if let Some(rest) = t.strip_prefix("#ifndef") {
                let on = !self.flags.contains(&rest.trim());
                stack.push((on, on));
            } else if t == "#else" {
                let top = stack
                    .last_mut()
                    .ok_or_else(|| directive_err("#else without #ifdef"))?;
                *top = (!top.1, true);
            } else if t == "#endif" {
                stack
                    .pop()
                    .ok_or_else(|| directive_err("#endif without #ifdef"))?;
            } else if let Some(rest) = t.strip_prefix("#for") {
                // The body runs to the matching #endfor.
                let mut nest = 1;
                let start = i;
                while i < lines.len() {
                    let tt = lines[i].1.trim();
                    if tt.starts_with("#for") {
                        nest += 1;
                    } else if tt == "#endfor" {
                        nest -= 1;
                        if nest == 0 {
                            break;
                        }
                    }
                    i += 1;
                }
                if nest != 0 {
                    return Err(directive_err("#for without #endfor"));
                }
                let body = &lines[start..i];
                i += 1;
                if !active {
                    continue;
                }
                let words: Vec<&str> = rest.split_whitespace().collect();
                let [var, "in", count] = words[..] else {
                    return Err(directive_err("expected `#for NAME in COUNT`"));
                };
                let n = self.trip_count(module, lineno, count)?;
                // Counted before unrolling, so that nested loops stop at once.
                self.unrolled = self
                    .unrolled
                    .saturating_add((n as usize).saturating_mul(body.len()));
                if self.unrolled > MAX_UNROLLED_LINES {
                    return Err(directive_err(&format!(
                        "`#for` unrolls more than {MAX_UNROLLED_LINES} lines in all"
                    )));
                }
                let token = format!("${var}");
                for k in 0..n {
                    let copy: Vec<Line> = body
                        .iter()
                        .map(|(l, s)| (*l, s.replace(&token, &k.to_string())))
                        .collect();
                    self.add_lines(module, &copy, depth)?;
                }
            } else if t == "#endfor" {
                return Err(directive_err("#endfor without #for"));
            } else if let Some(rest) = t.strip_prefix("#import") {
                if !active {
                    continue;
                }
                let name = rest.trim();
                if self.done.insert(name.to_string()) {
                    let body = self
                        .lookup(name)
                        .ok_or_else(|| directive_err(&format!("unknown module `{name}`")))?
                        .to_string();
                    self.add_module(name, &body, 0, depth + 1)?;
                }
            } else if t.starts_with('#') {
                return Err(directive_err(&format!("unknown directive `{t}`")));
            } else if active {
                self.out.source.push_str(line);
                self.out.source.push('\n');
                self.out.origins.push(Origin {
                    module: module.to_string(),
                    line: lineno,
                });
            }
        }
        if !stack.is_empty() {
            return Err(Error::Shader {
                at: Some(Location::file(module)),
                message: "#ifdef without #endif".into(),
                code: None,
            });
        }
        Ok(())
    }
}

impl Composed {
    /// "module:line:column" for a 1-based line and column of the composed source.
    pub fn locate(&self, line: usize, column: usize) -> String {
        self.location(line, column).to_string()
    }

    /// The module, line and column a 1-based line and byte column of the composed source
    /// come from: the user's file, line and column (in characters) for the user's code.
    pub fn location(&self, line: usize, column: usize) -> Location {
        // naga counts columns in bytes; people count characters.
        let text = self.source.lines().nth(line.wrapping_sub(1)).unwrap_or("");
        let mut byte = column.saturating_sub(1).min(text.len());
        while !text.is_char_boundary(byte) {
            byte -= 1;
        }
        let column = text[..byte].chars().count() + 1;
        match self.origins.get(line.wrapping_sub(1)) {
            Some(o) => match self.places.iter().find(|p| p.name == o.module) {
                Some(p) => {
                    let (l, c) = p.place(o.line - p.line_offset, column);
                    Location::at(&o.module, l, c)
                }
                None => Location::at(&o.module, o.line, column),
            },
            None => Location::at("<composed>", line, column),
        }
    }

    /// An error at a 1-based line and column of the composed source, with that line.
    fn error_at_line(&self, line: usize, column: usize, message: String) -> Error {
        let code = self
            .source
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim_end();
        Error::Shader {
            at: Some(self.location(line, column)),
            message,
            code: Some(code.to_string()),
        }
    }

    /// The lines that came from `module`, keeping their origins.
    pub fn only(&self, module: &str) -> Composed {
        let mut out = Composed {
            source: String::new(),
            origins: Vec::new(),
            places: self.places.clone(),
        };
        for (line, origin) in self.source.lines().zip(&self.origins) {
            if origin.module == module {
                out.source.push_str(line);
                out.source.push('\n');
                out.origins.push(origin.clone());
            }
        }
        out
    }

    /// An error at a byte offset of the composed source, located in its module.
    pub fn error_at_offset(&self, at: usize, message: &str) -> Error {
        let at = at.min(self.source.len()) as u32;
        self.error_at(naga::Span::new(at, at + 1), message)
    }

    /// An error at a span of the composed source, located in its module.
    pub fn error_at(&self, span: naga::Span, message: &str) -> Error {
        let loc = span.location(&self.source);
        self.error_at_line(
            loc.line_number as usize,
            loc.line_position as usize,
            message.to_string(),
        )
    }

    /// Parses with naga; errors name the module, line and column. Refuses first what would
    /// overflow naga's stack (`MAX_EXPRESSION_DEPTH`), then variables too large for one
    /// thread (`MAX_VARIABLE_BYTES`, `MAX_VARIABLES_BYTES`).
    pub fn parse(&self) -> Result<naga::Module, Error> {
        self.check_depth()?;
        let module = self.naga_parse()?;
        self.check_variables(&module)?;
        Ok(module)
    }

    fn naga_parse(&self) -> Result<naga::Module, Error> {
        naga::front::wgsl::parse_str(&self.source).map_err(|e| {
            let mut message = e.message().to_string();
            for note in e.notes() {
                message += &format!("; {note}");
            }
            // Some errors carry no place (types have no span): say so rather than point at
            // the first line.
            let placed = e.labels().next().is_some_and(|(span, _)| span.is_defined());
            match e.location(&self.source).filter(|_| placed) {
                Some(loc) => self.error_at_line(
                    loc.line_number as usize,
                    loc.line_position as usize,
                    message,
                ),
                None => Error::Shader {
                    at: None,
                    message,
                    code: None,
                },
            }
        })
    }

    /// Validates a parsed module; errors name the module, line and column of the most
    /// specific place naga points at, and give the whole chain of causes.
    pub fn check(
        &self,
        module: &naga::Module,
        caps: naga::valid::Capabilities,
    ) -> Result<naga::valid::ModuleInfo, Error> {
        let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
        if caps.contains(naga::valid::Capabilities::SUBGROUP) {
            validator
                .subgroup_stages(naga::valid::ShaderStages::COMPUTE)
                .subgroup_operations(naga::valid::SubgroupOperationSet::all());
        }
        validator.validate(module).map_err(|e| {
            let msg = describe(e.as_inner(), module);
            let returned = return_span(e.as_inner(), module).map(|s| (s, String::new()));
            let narrowest = e
                .spans()
                .filter(|(span, _)| span.is_defined())
                .min_by_key(|(span, _)| span.to_range().map_or(usize::MAX, |r| r.len()))
                .cloned();
            match returned.or(narrowest) {
                Some((span, label)) => {
                    // Labels naming naga's own handles ("naga::ir::Expression [3]") say nothing
                    // to the person who wrote the code.
                    let label = strip_handles(&label);
                    let full = if label.is_empty() || label.starts_with("naga::") {
                        msg
                    } else {
                        format!("{msg} ({label})")
                    };
                    self.error_at(span, &full)
                }
                None => Error::Shader {
                    at: None,
                    message: msg,
                    code: None,
                },
            }
        })
    }

    /// Parses and validates with naga.
    pub fn validate(&self, caps: naga::valid::Capabilities) -> Result<naga::Module, Error> {
        let module = self.parse()?;
        self.check(&module, caps)?;
        Ok(module)
    }
}

/// The span of the `return` statement a wrong return type is about: naga points at the
/// returned expression, which for an argument is its declaration in the signature.
fn return_span(e: &naga::valid::ValidationError, module: &naga::Module) -> Option<naga::Span> {
    use naga::valid::{FunctionError, ValidationError};
    let ValidationError::Function {
        handle,
        source:
            FunctionError::InvalidReturnType {
                expression: Some(value),
                ..
            },
        ..
    } = e
    else {
        return None;
    };
    fn find(block: &naga::Block, value: naga::Handle<naga::Expression>) -> Option<naga::Span> {
        for (stmt, span) in block.span_iter() {
            let inner: Vec<&naga::Block> = match stmt {
                naga::Statement::Return { value: Some(v) } if *v == value => {
                    return Some(*span).filter(|s| s.is_defined())
                }
                naga::Statement::Block(b) => vec![b],
                naga::Statement::If { accept, reject, .. } => vec![accept, reject],
                naga::Statement::Loop {
                    body, continuing, ..
                } => vec![body, continuing],
                naga::Statement::Switch { cases, .. } => cases.iter().map(|c| &c.body).collect(),
                _ => vec![],
            };
            if let Some(s) = inner.into_iter().find_map(|b| find(b, value)) {
                return Some(s);
            }
        }
        None
    }
    find(&module.functions[*handle].body, *value)
}

/// A type as WGSL writes it (`vec4<f32>`, `array<f32, 3>`, a struct's name).
pub fn type_name(module: &naga::Module, ty: naga::Handle<naga::Type>) -> String {
    module.to_ctx().type_to_string(ty)
}

/// A type's inner form as WGSL writes it.
pub fn inner_name(module: &naga::Module, inner: &naga::TypeInner) -> String {
    let mut s = String::new();
    let _ = module.to_ctx().write_type_inner(inner, &mut s);
    s
}

/// `op` as WGSL writes it.
fn operator(op: naga::BinaryOperator) -> &'static str {
    use naga::BinaryOperator as B;
    match op {
        B::Add => "+",
        B::Subtract => "-",
        B::Multiply => "*",
        B::Divide => "/",
        B::Modulo => "%",
        B::Equal => "==",
        B::NotEqual => "!=",
        B::Less => "<",
        B::LessEqual => "<=",
        B::Greater => ">",
        B::GreaterEqual => ">=",
        B::And => "&",
        B::ExclusiveOr => "^",
        B::InclusiveOr => "|",
        B::LogicalAnd => "&&",
        B::LogicalOr => "||",
        B::ShiftLeft => "<<",
        B::ShiftRight => ">>",
    }
}

/// Drops naga's arena handles (`[3]`, `Some([3])`, `Handle([3])`) from a message: they
/// number naga's internal tables, which the person reading cannot see.
fn strip_handles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(']') {
            let mut head = &rest[..open];
            let mut tail = &after[digits + 1..];
            while let Some(wrap) = ["Some(", "Handle("]
                .into_iter()
                .find(|w| head.ends_with(w) && tail.starts_with(')'))
            {
                head = &head[..head.len() - wrap.len()];
                tail = &tail[1..];
            }
            out.push_str(head.trim_end_matches(' '));
            rest = tail;
        } else {
            out.push_str(&rest[..=open]);
            rest = after;
        }
    }
    out.push_str(rest);
    out.replace("  ", " ")
}

/// One level of a validation error, for the person who wrote the code: names and types as
/// WGSL writes them, no handles, no Rust `Debug` dumps. `None` drops a level that only says
/// "expression N is invalid".
fn describe_one(e: &(dyn std::error::Error + 'static), module: &naga::Module) -> Option<String> {
    use naga::valid::{ExpressionError as X, FunctionError as F, ValidationError as V};
    let inner = |t: &naga::TypeInner| format!("`{}`", inner_name(module, t));
    if let Some(v) = e.downcast_ref::<V>() {
        return match v {
            V::Function { name, .. } => Some(format!("in `{name}`")),
            V::Type { name, .. } if !name.is_empty() => Some(format!("type `{name}`")),
            V::Constant { name, .. } => Some(format!("constant `{name}`")),
            V::Override { name, .. } => Some(format!("override `{name}`")),
            V::GlobalVariable { name, .. } => Some(format!("`{name}`")),
            V::EntryPoint { name, .. } => Some(format!("throng's kernel `{name}`")),
            V::ConstExpression { .. } => Some("a constant expression is invalid".into()),
            V::Layouter(l) => Some(format!(
                "type `{}` is too large: {}",
                type_name(module, l.ty),
                l.inner
            )),
            _ => Some(strip_handles(&v.to_string())),
        };
    }
    if let Some(f) = e.downcast_ref::<F>() {
        return match f {
            F::Expression { .. } => None,
            F::LocalVariable { name, .. } => Some(format!("local variable `{name}`")),
            F::InvalidReturnType {
                expected_ty: Some(t),
                ..
            } => Some(format!(
                "the value returned is not of the declared return type `{}`",
                type_name(module, *t)
            )),
            F::InvalidReturnType {
                expected_ty: None, ..
            } => Some("the function declares no return type but returns a value".into()),
            F::InvalidCall { function, .. } => Some(format!(
                "the call of `{}`",
                module.functions[*function]
                    .name
                    .as_deref()
                    .unwrap_or("a function")
            )),
            F::InvalidStoreTypes { .. } => {
                Some("the value assigned is not of the variable's type".into())
            }
            _ => Some(strip_handles(&f.to_string())),
        };
    }
    if let Some(x) = e.downcast_ref::<X>() {
        return Some(match x {
            X::InvalidBinaryOperandTypes {
                op,
                lhs_type,
                rhs_type,
                ..
            } => format!(
                "`{}` can't work with {} and {}",
                operator(*op),
                inner(lhs_type),
                inner(rhs_type)
            ),
            X::SelectValuesTypeMismatch { accept, reject } => format!(
                "`select` needs both values of one type, got {} and {}",
                inner(reject),
                inner(accept)
            ),
            X::SelectConditionNotABool { actual } => {
                format!("`select` needs a bool condition, got {}", inner(actual))
            }
            X::ShiftAmountTooLarge { lhs_type, .. } => {
                format!("the shift exceeds the bit width of {}", inner(lhs_type))
            }
            _ => strip_handles(&x.to_string()),
        });
    }
    if let Some(c) = e.downcast_ref::<naga::valid::CallError>() {
        use naga::valid::CallError as C;
        return Some(match c {
            C::ArgumentType {
                index, required, ..
            } => format!(
                "argument {} is not of type `{}`",
                index + 1,
                type_name(module, *required)
            ),
            C::ArgumentCount { required, seen } => {
                format!("{seen} argument(s) given where the function takes {required}")
            }
            _ => strip_handles(&c.to_string()),
        });
    }
    Some(strip_handles(&e.to_string()))
}

/// A validation error's chain of causes, each level described by `describe_one`.
fn describe(e: &naga::valid::ValidationError, module: &naga::Module) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(p) = describe_one(c, module).filter(|p| !p.is_empty()) {
            if parts.last() != Some(&p) {
                parts.push(p);
            }
        }
        cause = c.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src<'a>(name: &'a str, text: &'a str) -> Source<'a> {
        Source::new(name, text)
    }

    #[test]
    fn imports_once_and_maps_lines_to_modules() {
        let a = src("a", "#import b\nfn fa() {}\n");
        let b = src("b", "// b1\n#import c\nfn fb() {}\n");
        let c = src("c", "fn fc() {}\n");
        let root = src("root", "#import a\n#import b\nfn main() {}\n");
        let out = compose(&[root], &[a, b, c], &[], &[]).unwrap();
        assert_eq!(
            out.source,
            "// b1\nfn fc() {}\nfn fb() {}\nfn fa() {}\nfn main() {}\n"
        );
        assert_eq!(out.locate(2, 4), "c:1:4");
        assert_eq!(out.locate(3, 1), "b:3:1");
        assert_eq!(out.locate(5, 1), "root:3:1");
    }

    #[test]
    fn ifdef_else_endif_select_lines() {
        let root = src(
            "root",
            "#ifdef A\na\n#else\nnot_a\n#endif\n#ifndef B\nnot_b\n#else\nb\n#endif\n",
        );
        assert_eq!(
            compose(&[root], &[], &["A"], &[]).unwrap().source,
            "a\nnot_b\n"
        );
        assert_eq!(
            compose(&[root], &[], &["B"], &[]).unwrap().source,
            "not_a\nb\n"
        );
    }

    #[test]
    fn for_unrolls_with_substitution_and_keeps_line_origins() {
        let root = src(
            "root",
            "head\n#for c in DIM\nx[$c] = y[$c];\n#for k in 2\nz$c$k\n#endfor\n#endfor\ntail\n",
        );
        let out = compose(&[root], &[], &[], &[("DIM", 2)]).unwrap();
        assert_eq!(
            out.source,
            "head\nx[0] = y[0];\nz00\nz01\nx[1] = y[1];\nz10\nz11\ntail\n"
        );
        assert_eq!(out.locate(5, 1), "root:3:1");
        assert_eq!(out.locate(6, 1), "root:5:1");
        assert_eq!(out.locate(8, 1), "root:8:1");
    }

    #[test]
    fn imports_inside_inactive_branches_are_skipped() {
        let root = src("root", "#ifdef X\n#import missing\n#endif\nok\n");
        assert_eq!(compose(&[root], &[], &[], &[]).unwrap().source, "ok\n");
    }

    #[test]
    fn misuse_is_reported_with_module_and_line() {
        let e = |t: &str| {
            compose(&[src("m", t)], &[], &[], &[])
                .unwrap_err()
                .to_string()
        };
        assert!(e("x\n#import nope\n").contains("m:2: unknown module `nope`"));
        assert!(e("#endif\n").contains("m:1: #endif without #ifdef"));
        assert!(e("#ifdef A\n").contains("#ifdef without #endif"));
        assert!(e("#pragma x\n").contains("m:1: unknown directive"));
        assert!(e("#for c in 2\nx\n").contains("m:1: #for without #endfor"));
        assert!(e("#for c in NOPE\nx\n#endfor\n").contains("m:1: unknown trip count `NOPE`"));
        assert!(e("#endfor\n").contains("m:1: #endfor without #for"));
    }

    #[test]
    fn columns_count_characters_and_user_code_is_placed_in_its_file() {
        // Line 1 of the code sits at line 2, column 9 of the file; line 2 at column 30, with
        // an escape (two characters in the file) before its fifth character.
        let origin = CodeOrigin {
            name: "spec.toml".into(),
            line_offset: 1,
            runs: vec![vec![(1, 2, 9)], vec![(1, 2, 30), (5, 2, 35)]],
        };
        let root = Source::code("é = 1;\nabcdefgh\n", &origin);
        let out = compose(&[root], &[], &[], &[]).unwrap();
        // Byte column 4 of "é = 1;" is its third character.
        assert_eq!(out.locate(1, 4), "spec.toml:2:11");
        assert_eq!(out.locate(2, 2), "spec.toml:2:31");
        assert_eq!(out.locate(2, 6), "spec.toml:2:36");
        // Without runs, lines are offset and columns count characters.
        let plain = CodeOrigin {
            name: "f.wgsl".into(),
            line_offset: 3,
            runs: vec![],
        };
        let out = compose(&[Source::code("/* ü */ x\n", &plain)], &[], &[], &[]).unwrap();
        assert_eq!(out.locate(1, 10), "f.wgsl:4:9");
    }

    #[test]
    fn naga_s_handles_are_dropped_from_messages() {
        assert_eq!(
            strip_handles("Returning Some(Handle([1])) where Some([2]) is expected"),
            "Returning where is expected"
        );
        assert_eq!(
            strip_handles("Call to [3] is invalid (naga::ir::Expression [0])"),
            "Call to is invalid (naga::ir::Expression)"
        );
        assert_eq!(strip_handles("array[i] stays"), "array[i] stays");
    }

    #[test]
    fn for_is_bounded_and_its_unrolling_counted_before_it_happens() {
        let e = |t: &str| {
            compose(&[src("m", t)], &[], &[], &[])
                .unwrap_err()
                .to_string()
        };
        assert!(e("x\n#for i in 4097\nx\n#endfor\n")
            .contains("m:2: `#for` runs 4097 times; the limit is 4096"));
        assert!(e("#for i in 4000000000\nx\n#endfor\n").contains("the limit is 4096"));
        assert!(e("#for i in 99999999999999999999999\nx\n#endfor\n").contains("unknown trip count"));
        // Nested loops stop as soon as their lines pass the limit, not after 16 M lines.
        let nested = "#for i in 4096\n#for j in 4096\nx$i$j\n#endfor\n#endfor\n";
        assert!(e(nested).contains("m:2: `#for` unrolls more than 65536 lines in all"));
        // The largest unrolling allowed: 4096 copies of 16 lines, composed in linear time.
        let body = "let v$i = x + $i.0;\n".repeat(16);
        let text = format!("#for i in 4096\n{body}#endfor\n");
        let out = compose(&[src("m", &text)], &[], &[], &[]).unwrap();
        assert_eq!(out.origins.len(), 1 << 16);
        assert_eq!(out.locate(1 << 16, 1), "m:17:1");
    }

    #[test]
    fn naga_errors_point_at_the_module_line_and_column() {
        let lib = src(
            "lib",
            "fn good() -> f32 { return 1.0; }\nfn bad() -> f32 { return undefined_name; }\n",
        );
        let root = src(
            "root",
            "#import lib\n@compute @workgroup_size(1) fn main() {}\n",
        );
        let err = compose(&[root], &[lib], &[], &[])
            .unwrap()
            .validate(naga::valid::Capabilities::empty())
            .unwrap_err()
            .to_string();
        assert!(err.contains("lib:2:26"), "{err}");
        assert!(err.contains("undefined_name"), "{err}");
    }
}
