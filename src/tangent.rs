//! Forward-mode differentiation of a system's WGSL on naga's IR. From a composed kernel that
//! holds the user's code, [`derive`] writes, for a root function (e.g. `drift`) and every user
//! function it calls, a WGSL function `d_NAME(args.., d_args..) -> DUAL_NAME` returning the
//! value and its directional derivative along the tangents of the float arguments: for
//! `drift(t, x, p)` with tangents (0, v, 0) that is f(t, x) and J(t, x)·v; with tangents
//! (0, 0, e_k) it is ∂f/∂p_k. Every float expression gets a tangent (arithmetic, `select`,
//! `min`/`max`/`abs`/`clamp` one-sided at ties, and WGSL's float built-ins); `let`/`var`,
//! `if` and the `#for` unrolling (already expanded) carry over. Anything without a rule is
//! refused at the user's line and column.
//!
//! The written functions use concrete types (`array<f32, 3>`, not `S`) and inline the values
//! of constants, so they can be placed in another kernel whose `S` and `DIM` differ (the
//! augmented systems of [`crate::chaos`]). Statically zero tangents are dropped.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use naga::common::wgsl::{TryToWgsl, TypeContext};
use naga::{Expression as E, Handle, MathFunction as M, Statement as St, TypeInner as T};

use crate::error::{Error, Result};
use crate::shader::Composed;

/// The name of the derived version of `name`, and of its result struct (value `v`,
/// tangent `d`).
pub fn derived_name(name: &str) -> String {
    format!("d_{name}")
}

pub fn dual_name(name: &str) -> String {
    format!("Dual_{name}")
}

/// Derives the `roots` and every function they call, each once. `composed` is the source
/// `module` was parsed from (for errors at the user's line), `info` its validation. With
/// `active`, only those arguments of the roots carry tangents (the others' are taken as
/// zero whatever is passed: e.g. `&[1]` for J·v along the state alone). With `primal`, no
/// argument of any function does: the functions are written with zero tangents and nothing
/// is refused for want of a derivative (for systems that give `fn jacobian`).
pub fn derive(
    composed: &Composed,
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    roots: &[&str],
    active: Option<&[u32]>,
    primal: bool,
    structs: &[String],
) -> Result<String> {
    let find = |name: &str| {
        module
            .functions
            .iter()
            .find(|(_, f)| f.name.as_deref() == Some(name))
            .map(|(h, _)| h)
    };
    // Callees first, so that each function is written after those it calls.
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    fn visit(
        module: &naga::Module,
        h: Handle<naga::Function>,
        seen: &mut HashSet<Handle<naga::Function>>,
        order: &mut Vec<Handle<naga::Function>>,
    ) {
        if !seen.insert(h) {
            return;
        }
        let mut callees = Vec::new();
        calls(&module.functions[h].body, &mut callees);
        for c in callees {
            visit(module, c, seen, order);
        }
        order.push(h);
    }
    for root in roots {
        let h = find(root).ok_or_else(|| Error::Shader {
            at: None,
            message: format!("`{root}` is missing"),
            code: None,
        })?;
        visit(module, h, &mut seen, &mut order);
    }
    let mut out = String::new();
    // The user's own structs, written again for the kernel the derived code goes into (the
    // arena holds a struct's member types before it, so this order declares them first).
    for (_, t) in module.types.iter() {
        if let (Some(name), T::Struct { members, .. }) = (&t.name, &t.inner) {
            if structs.contains(name) {
                let _ = writeln!(out, "struct {name} {{");
                for m in members {
                    let field = m.name.as_deref().unwrap_or("_");
                    let _ = writeln!(out, "    {field}: {},", type_text(module, m.ty));
                }
                let _ = writeln!(out, "}}");
            }
        }
    }
    for (name, alias) in [("S", "Sd"), ("G", "Gd")] {
        if let Some((h, _)) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
        {
            let T::Array {
                base,
                size: naga::ArraySize::Constant(n),
                ..
            } = module.types[h].inner
            else {
                continue;
            };
            let _ = writeln!(
                out,
                "alias {alias} = array<{}, {n}>;",
                type_text(module, base)
            );
        }
    }
    for h in order {
        let w = Writer {
            composed,
            module,
            func: &module.functions[h],
            info: &info[h],
            prim: HashMap::new(),
            tan: HashMap::new(),
            out: String::new(),
            indent: 1,
            inactive: {
                let n = module.functions[h].arguments.len() as u32;
                let root = roots.contains(&module.functions[h].name.as_deref().unwrap_or(""));
                // `active` counts arguments as in (t, x, p); a root without t (`project`,
                // `label`: (x, p)) has them one place earlier.
                let shift = 3u32.saturating_sub(n);
                match active {
                    _ if primal => (0..n).collect(),
                    Some(a) if root => (0..n).filter(|i| !a.contains(&(i + shift))).collect(),
                    _ => Vec::new(),
                }
            },
        };
        out += &w.function()?;
    }
    Ok(out)
}

fn calls(block: &naga::Block, out: &mut Vec<Handle<naga::Function>>) {
    for s in block.iter() {
        match s {
            St::Call { function, .. } => out.push(*function),
            St::Block(b) => calls(b, out),
            St::If { accept, reject, .. } => {
                calls(accept, out);
                calls(reject, out);
            }
            St::Loop {
                body, continuing, ..
            } => {
                calls(body, out);
                calls(continuing, out);
            }
            St::Switch { cases, .. } => cases.iter().for_each(|c| calls(&c.body, out)),
            _ => {}
        }
    }
}

/// A tangent: statically zero, or a WGSL expression.
#[derive(Clone, Debug)]
enum Tan {
    Zero,
    Text(String),
}

struct Writer<'a> {
    composed: &'a Composed,
    module: &'a naga::Module,
    func: &'a naga::Function,
    info: &'a naga::valid::FunctionInfo,
    prim: HashMap<Handle<naga::Expression>, String>,
    tan: HashMap<Handle<naga::Expression>, Tan>,
    out: String,
    indent: usize,
    /// Arguments whose tangent is zero in every call (the roots' `t` and `p` when only the
    /// state varies): their products are not written.
    inactive: Vec<u32>,
}

/// Whether values of a type carry a tangent (they hold floats).
fn has_floats(module: &naga::Module, inner: &T) -> bool {
    match inner {
        T::Scalar(s) | T::Vector { scalar: s, .. } | T::ValuePointer { scalar: s, .. } => {
            s.kind == naga::ScalarKind::Float
        }
        T::Matrix { .. } => true,
        T::Pointer { base, .. } => has_floats(module, &module.types[*base].inner),
        T::Array { base, .. } => has_floats(module, &module.types[*base].inner),
        T::Struct { members, .. } => members
            .iter()
            .any(|m| has_floats(module, &module.types[m.ty].inner)),
        _ => false,
    }
}

/// Names of the prelude's aliases, which mean the same in every kernel of a run's lanes and
/// precision: derived code writes them by name (naga tells types apart by name).
const SHARED_ALIASES: &[&str] = &["F", "R", "R32", "U", "I", "B"];

/// How derived code writes a type: structs and shared aliases by name, the state `S` and the
/// diffusion's `G` as `Sd` and `Gd` (which [`derive`]'s output declares for the system's
/// dimension: a kernel that places derived code may give `S` another meaning), anything
/// else spelled out.
pub fn type_text(module: &naga::Module, h: Handle<naga::Type>) -> String {
    let t = &module.types[h];
    match (t.name.as_deref(), &t.inner) {
        (Some(n), T::Struct { .. }) => n.to_string(),
        (Some("S"), _) => "Sd".into(),
        (Some("G"), _) => "Gd".into(),
        (Some(n), _) if SHARED_ALIASES.contains(&n) => n.to_string(),
        (
            _,
            T::Array {
                base,
                size: naga::ArraySize::Constant(n),
                ..
            },
        ) => format!("array<{}, {n}>", type_text(module, *base)),
        _ => module.to_ctx().type_to_string(h),
    }
}

fn literal(l: &naga::Literal) -> String {
    use naga::Literal as L;
    match *l {
        L::F64(v) => format!("({v:?}lf)"),
        L::F32(v) => format!("({v:?}f)"),
        L::AbstractFloat(v) => format!("({v:?})"),
        L::U32(v) => format!("{v}u"),
        L::I32(v) => format!("({v}i)"),
        L::U64(v) => format!("{v}lu"),
        L::I64(v) => format!("({v}li)"),
        L::AbstractInt(v) => format!("({v})"),
        L::Bool(v) => format!("{v}"),
        L::F16(v) => format!("({}h)", f32::from(v)),
        L::U16(v) => format!("{v}u"),
        L::I16(v) => format!("({v}i)"),
    }
}

impl Writer<'_> {
    fn ctx(&self) -> naga::proc::GlobalCtx<'_> {
        self.module.to_ctx()
    }

    fn err(&self, h: Handle<naga::Expression>, what: &str) -> Error {
        let span = self.func.expressions.get_span(h);
        self.refuse(span, what)
    }

    fn refuse(&self, span: naga::Span, what: &str) -> Error {
        let name = self.func.name.as_deref().unwrap_or("?");
        let message = format!(
            "throng cannot differentiate {what} (in `{name}`, for tangents and Lyapunov \
             exponents); write it with operations it can, or give `fn jacobian`"
        );
        match span.to_range() {
            Some(r) => self.composed.error_at_offset(r.start, &message),
            None => Error::Shader {
                at: None,
                message,
                code: None,
            },
        }
    }

    fn inner(&self, h: Handle<naga::Expression>) -> &T {
        self.info[h].ty.inner_with(&self.module.types)
    }

    fn ty(&self, h: Handle<naga::Expression>) -> String {
        match &self.info[h].ty {
            naga::proc::TypeResolution::Handle(t) => type_text(self.module, *t),
            r => self.ctx().type_resolution_to_string(r),
        }
    }

    fn floats(&self, h: Handle<naga::Expression>) -> bool {
        has_floats(self.module, self.inner(h))
    }

    fn is_pointer(&self, h: Handle<naga::Expression>) -> bool {
        matches!(self.inner(h), T::Pointer { .. } | T::ValuePointer { .. })
    }

    /// A tangent `d` of operand `h` in the shape of a result of type `ty` (a scalar operand's
    /// tangent splatted when the result is a vector).
    fn shaped(&self, h: Handle<naga::Expression>, ty: &str, d: String) -> String {
        if self.ty(h) == ty {
            d
        } else {
            format!("{ty}({d})")
        }
    }

    /// The tangent of `h` as a value (a typed zero if statically zero).
    fn tan_value(&mut self, h: Handle<naga::Expression>) -> Result<String> {
        Ok(match self.tangent(h)? {
            Tan::Zero => format!("{}()", self.ty(h)),
            Tan::Text(t) => t,
        })
    }

    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out += "    ";
        }
        self.out += s;
        self.out += "\n";
    }

    /// The value of a module constant, written out (so it does not depend on the names of
    /// the kernel it came from).
    fn global_expr(&self, h: Handle<naga::Expression>) -> Result<String> {
        let e = &self.module.global_expressions[h];
        Ok(match e {
            E::Literal(l) => literal(l),
            E::Constant(c) => self.global_expr(self.module.constants[*c].init)?,
            E::ZeroValue(ty) => format!("{}()", type_text(self.module, *ty)),
            E::Compose { ty, components } => {
                let parts: Result<Vec<String>> =
                    components.iter().map(|c| self.global_expr(*c)).collect();
                format!("{}({})", type_text(self.module, *ty), parts?.join(", "))
            }
            E::Splat { size, value } => {
                // WGSL infers the element type from the value.
                format!("vec{}({})", *size as u8, self.global_expr(*value)?)
            }
            other => {
                return Err(Error::Shader {
                    at: None,
                    message: format!("throng cannot inline the constant expression {other:?}"),
                    code: None,
                })
            }
        })
    }

    /// The primal text of `h` (computing it for expressions outside Emit ranges).
    fn primal(&mut self, h: Handle<naga::Expression>) -> Result<String> {
        if let Some(p) = self.prim.get(&h) {
            return Ok(p.clone());
        }
        let (p, t) = self.expression(h)?;
        self.prim.insert(h, p.clone());
        self.tan.insert(h, t);
        Ok(p)
    }

    fn tangent(&mut self, h: Handle<naga::Expression>) -> Result<Tan> {
        if !self.tan.contains_key(&h) {
            self.primal(h)?;
        }
        Ok(self.tan[&h].clone())
    }

    /// Primal and tangent text of one expression, from those of its operands.
    fn expression(&mut self, h: Handle<naga::Expression>) -> Result<(String, Tan)> {
        let e = self.func.expressions[h].clone();
        let floats = self.floats(h);
        let ty = self.ty(h);
        let zero = |p: String| Ok((p, Tan::Zero));
        match e {
            E::Literal(l) => zero(literal(&l)),
            E::Constant(c) => zero(self.global_expr(self.module.constants[c].init)?),
            E::ZeroValue(t) => zero(format!("{}()", type_text(self.module, t))),
            E::FunctionArgument(i) => {
                let arg = &self.func.arguments[i as usize];
                let t = if has_floats(self.module, &self.module.types[arg.ty].inner)
                    && !self.inactive.contains(&i)
                {
                    Tan::Text(format!("da{i}"))
                } else {
                    Tan::Zero
                };
                Ok((format!("a{i}"), t))
            }
            E::LocalVariable(v) => {
                let lv = &self.func.local_variables[v];
                let t = if has_floats(self.module, &self.module.types[lv.ty].inner) {
                    Tan::Text(format!("dl{}", v.index()))
                } else {
                    Tan::Zero
                };
                Ok((format!("l{}", v.index()), t))
            }
            E::Load { pointer } => {
                let p = self.primal(pointer)?;
                let t = self.tangent(pointer)?;
                Ok((p, if floats { t } else { Tan::Zero }))
            }
            E::Compose {
                ty: cty,
                components,
            } => {
                let tyname = type_text(self.module, cty);
                let mut ps = Vec::new();
                let mut ts = Vec::new();
                let mut any = false;
                for c in &components {
                    ps.push(self.primal(*c)?);
                    let t = self.tangent(*c)?;
                    any |= matches!(t, Tan::Text(_));
                    ts.push(*c);
                }
                let p = format!("{tyname}({})", ps.join(", "));
                if !floats || !any {
                    return Ok((p, Tan::Zero));
                }
                let ts: Result<Vec<String>> = ts.iter().map(|c| self.tan_value(*c)).collect();
                Ok((p, Tan::Text(format!("{tyname}({})", ts?.join(", ")))))
            }
            E::Access { base, index } => {
                let b = self.primal(base)?;
                let i = self.primal(index)?;
                let t = match self.tangent(base)? {
                    Tan::Text(d) if floats => Tan::Text(format!("{d}[{i}]")),
                    _ => Tan::Zero,
                };
                Ok((format!("{b}[{i}]"), t))
            }
            E::AccessIndex { base, index } => {
                let b = self.primal(base)?;
                let member = {
                    let mut inner = self.inner(base);
                    if let T::Pointer { base: pb, .. } = inner {
                        inner = &self.module.types[*pb].inner;
                    }
                    match inner {
                        T::Struct { members, .. } => Some(
                            members[index as usize]
                                .name
                                .clone()
                                .unwrap_or_else(|| format!("member{index}")),
                        ),
                        _ => None,
                    }
                };
                let sel = match &member {
                    Some(m) => format!(".{m}"),
                    None => format!("[{index}]"),
                };
                let t = match self.tangent(base)? {
                    Tan::Text(d) if floats => Tan::Text(format!("{d}{sel}")),
                    _ => Tan::Zero,
                };
                Ok((format!("{b}{sel}"), t))
            }
            E::Splat { value, .. } => {
                let p = format!("{ty}({})", self.primal(value)?);
                let t = match self.tangent(value)? {
                    Tan::Text(d) => Tan::Text(format!("{ty}({d})")),
                    Tan::Zero => Tan::Zero,
                };
                Ok((p, t))
            }
            E::Swizzle {
                size,
                vector,
                pattern,
            } => {
                let comps: String = pattern[..size as usize]
                    .iter()
                    .map(|c| ['x', 'y', 'z', 'w'][*c as usize])
                    .collect();
                let p = format!("{}.{comps}", self.primal(vector)?);
                let t = match self.tangent(vector)? {
                    Tan::Text(d) => Tan::Text(format!("{d}.{comps}")),
                    Tan::Zero => Tan::Zero,
                };
                Ok((p, t))
            }
            E::Unary { op, expr } => {
                let a = self.primal(expr)?;
                let sym = match op {
                    naga::UnaryOperator::Negate => "-",
                    naga::UnaryOperator::LogicalNot => "!",
                    naga::UnaryOperator::BitwiseNot => "~",
                };
                let t = match (op, self.tangent(expr)?) {
                    (naga::UnaryOperator::Negate, Tan::Text(d)) if floats => {
                        Tan::Text(format!("(-{d})"))
                    }
                    _ => Tan::Zero,
                };
                Ok((format!("({sym}{a})"), t))
            }
            E::Binary { op, left, right } => {
                use naga::BinaryOperator as B;
                let (a, b) = (self.primal(left)?, self.primal(right)?);
                let p = format!("({a} {} {b})", naga::back::binary_operation_str(op));
                if !floats {
                    return Ok((p, Tan::Zero));
                }
                let (da, db) = (self.tangent(left)?, self.tangent(right)?);
                let t = match (op, da, db) {
                    (_, Tan::Zero, Tan::Zero) => Tan::Zero,
                    // A scalar's tangent beside a vector's zero becomes the vector's shape.
                    (B::Add, Tan::Text(d), Tan::Zero) => Tan::Text(self.shaped(left, &ty, d)),
                    (B::Add, Tan::Zero, Tan::Text(d)) => Tan::Text(self.shaped(right, &ty, d)),
                    (B::Add, Tan::Text(x), Tan::Text(y)) => Tan::Text(format!("({x} + {y})")),
                    (B::Subtract, Tan::Text(d), Tan::Zero) => Tan::Text(self.shaped(left, &ty, d)),
                    (B::Subtract, Tan::Zero, Tan::Text(d)) => {
                        Tan::Text(self.shaped(right, &ty, format!("(-{d})")))
                    }
                    (B::Subtract, Tan::Text(x), Tan::Text(y)) => Tan::Text(format!("({x} - {y})")),
                    (B::Multiply, Tan::Text(d), Tan::Zero) => Tan::Text(format!("({d} * {b})")),
                    (B::Multiply, Tan::Zero, Tan::Text(d)) => Tan::Text(format!("({a} * {d})")),
                    (B::Multiply, Tan::Text(x), Tan::Text(y)) => {
                        Tan::Text(format!("({x} * {b} + {a} * {y})"))
                    }
                    (B::Divide, Tan::Text(d), Tan::Zero) => Tan::Text(format!("({d} / {b})")),
                    (B::Divide, da, Tan::Text(y)) => {
                        let first = match da {
                            Tan::Text(x) => format!("{x} / {b} "),
                            Tan::Zero => String::new(),
                        };
                        Tan::Text(format!("({first}- ({a} * {y}) / ({b} * {b}))"))
                    }
                    (B::Modulo, da, db) => {
                        let x = match da {
                            Tan::Text(x) => x,
                            Tan::Zero => format!("{ty}()"),
                        };
                        match db {
                            Tan::Zero => Tan::Text(self.shaped(left, &ty, x)),
                            Tan::Text(y) => Tan::Text(format!("({x} - {y} * trunc({a} / {b}))")),
                        }
                    }
                    _ => return Err(self.err(h, "this operation on floats")),
                };
                Ok((p, t))
            }
            E::Select {
                condition,
                accept,
                reject,
            } => {
                let c = self.primal(condition)?;
                let (a, r) = (self.primal(accept)?, self.primal(reject)?);
                let p = format!("select({r}, {a}, {c})");
                if !floats {
                    return Ok((p, Tan::Zero));
                }
                let t = match (self.tangent(accept)?, self.tangent(reject)?) {
                    (Tan::Zero, Tan::Zero) => Tan::Zero,
                    _ => Tan::Text(format!(
                        "select({}, {}, {c})",
                        self.tan_value(reject)?,
                        self.tan_value(accept)?
                    )),
                };
                Ok((p, t))
            }
            E::Math {
                fun,
                arg,
                arg1,
                arg2,
                arg3,
            } => self.math(h, fun, [Some(arg), arg1, arg2, arg3], floats, &ty),
            E::As {
                expr,
                kind,
                convert,
            } => {
                let a = self.primal(expr)?;
                let p = match convert {
                    Some(_) => format!("{ty}({a})"),
                    None => format!("bitcast<{ty}>({a})"),
                };
                let from_float = self.floats(expr);
                let t = match self.tangent(expr)? {
                    Tan::Text(d)
                        if kind == naga::ScalarKind::Float && from_float && convert.is_some() =>
                    {
                        Tan::Text(format!("{ty}({d})"))
                    }
                    Tan::Text(_)
                        if kind == naga::ScalarKind::Float && convert.is_none() && from_float =>
                    {
                        return Err(self.err(h, "a bitcast of a float"))
                    }
                    _ => Tan::Zero,
                };
                Ok((p, t))
            }
            E::CallResult(_) => Err(self.err(h, "a call whose result is used before the call")),
            E::Relational { fun, argument } => {
                let a = self.primal(argument)?;
                let name = match fun {
                    naga::RelationalFunction::All => "all",
                    naga::RelationalFunction::Any => "any",
                    _ => return Err(self.err(h, "this relational function")),
                };
                zero(format!("{name}({a})"))
            }
            E::GlobalVariable(_) => Err(self.err(h, "a module-level variable")),
            _ => Err(self.err(h, "this expression")),
        }
    }

    fn math(
        &mut self,
        h: Handle<naga::Expression>,
        fun: M,
        args: [Option<Handle<naga::Expression>>; 4],
        floats: bool,
        ty: &str,
    ) -> Result<(String, Tan)> {
        let name = fun
            .try_to_wgsl()
            .ok_or_else(|| self.err(h, "this built-in"))?;
        let args: Vec<Handle<naga::Expression>> = args.into_iter().flatten().collect();
        let mut ps = Vec::new();
        for a in &args {
            ps.push(self.primal(*a)?);
        }
        let p = format!("{name}({})", ps.join(", "));
        if !floats {
            return Ok((p, Tan::Zero));
        }
        let mut ds = Vec::new();
        for a in &args {
            ds.push(self.tangent(*a)?);
        }
        if ds.iter().all(|d| matches!(d, Tan::Zero)) {
            return Ok((p, Tan::Zero));
        }
        // Tangent values (typed zeros where statically zero) for the general rules.
        let mut dv = Vec::new();
        for a in &args {
            dv.push(self.tan_value(*a)?);
        }
        let a = ps[0].clone();
        let da = dv[0].clone();
        let arg_ty = self.ty(args[0]);
        let t = match fun {
            M::Abs => format!("(sign({a}) * {da})"),
            M::Min => format!("select({}, {da}, {a} < {})", dv[1], ps[1]),
            M::Max => format!("select({}, {da}, {a} > {})", dv[1], ps[1]),
            M::Clamp => format!(
                "select(select({da}, {}, {a} < {}), {}, {a} > {})",
                dv[1], ps[1], dv[2], ps[2]
            ),
            M::Saturate => {
                format!("select({arg_ty}(), {da}, ({a} > {arg_ty}()) & ({a} < {arg_ty}(1.0)))")
            }
            M::Cos => format!("(-sin({a}) * {da})"),
            M::Cosh => format!("(sinh({a}) * {da})"),
            M::Sin => format!("(cos({a}) * {da})"),
            M::Sinh => format!("(cosh({a}) * {da})"),
            M::Tan => format!("({da} / (cos({a}) * cos({a})))"),
            M::Tanh => format!("((1.0 - tanh({a}) * tanh({a})) * {da})"),
            M::Acos => format!("(-{da} / sqrt(1.0 - {a} * {a}))"),
            M::Asin => format!("({da} / sqrt(1.0 - {a} * {a}))"),
            M::Atan => format!("({da} / (1.0 + {a} * {a}))"),
            M::Atan2 => format!(
                "(({b} * {da} - {a} * {db}) / ({a} * {a} + {b} * {b}))",
                b = ps[1],
                db = dv[1]
            ),
            M::Asinh => format!("({da} / sqrt({a} * {a} + 1.0))"),
            M::Acosh => format!("({da} / sqrt({a} * {a} - 1.0))"),
            M::Atanh => format!("({da} / (1.0 - {a} * {a}))"),
            M::Radians => format!("({da} * 0.017453292519943295)"),
            M::Degrees => format!("({da} * 57.29577951308232)"),
            M::Ceil | M::Floor | M::Round | M::Trunc | M::Sign | M::Step => {
                return Ok((p, Tan::Zero))
            }
            M::Fract => da.clone(),
            M::Exp => format!("(exp({a}) * {da})"),
            M::Exp2 => format!("(exp2({a}) * 0.6931471805599453 * {da})"),
            M::Log => format!("({da} / {a})"),
            M::Log2 => format!("({da} / ({a} * 0.6931471805599453))"),
            M::Pow => match &ds[1] {
                Tan::Zero => format!("({b} * pow({a}, {b} - 1.0) * {da})", b = ps[1]),
                Tan::Text(_) => format!(
                    "(pow({a}, {b}) * ({db} * log({a}) + {b} * {da} / {a}))",
                    b = ps[1],
                    db = dv[1]
                ),
            },
            M::Sqrt => format!("({da} / (2.0 * sqrt({a})))"),
            M::InverseSqrt => format!("(-0.5 * inverseSqrt({a}) / {a} * {da})"),
            M::Fma => format!(
                "({da} * {b} + {a} * {db} + {dc})",
                b = ps[1],
                db = dv[1],
                dc = dv[2]
            ),
            M::Mix => format!(
                "({da} * (1.0 - {t}) + {db} * {t} + ({b} - {a}) * {dt})",
                b = ps[1],
                db = dv[1],
                t = ps[2],
                dt = dv[2]
            ),
            M::Dot => format!("(dot({da}, {b}) + dot({a}, {db}))", b = ps[1], db = dv[1]),
            M::Cross => format!(
                "(cross({da}, {b}) + cross({a}, {db}))",
                b = ps[1],
                db = dv[1]
            ),
            M::Length | M::Distance if matches!(self.inner(args[0]), T::Scalar(_)) => {
                // |a| and |a - b| of scalars: dot() takes vectors only.
                match fun {
                    M::Length => format!("(sign({a}) * {da})"),
                    _ => format!("(sign({a} - {b}) * ({da} - {db}))", b = ps[1], db = dv[1]),
                }
            }
            M::Length => format!("(dot({a}, {da}) / length({a}))"),
            M::Distance => format!(
                "(dot({a} - {b}, {da} - {db}) / distance({a}, {b}))",
                b = ps[1],
                db = dv[1]
            ),
            M::Normalize => {
                format!("(({da} - normalize({a}) * dot(normalize({a}), {da})) / length({a}))")
            }
            M::Transpose => format!("transpose({da})"),
            _ => return Err(self.err(h, &format!("`{name}`"))),
        };
        let _ = ty;
        Ok((p, Tan::Text(t)))
    }

    fn block(&mut self, block: &naga::Block) -> Result<()> {
        for (s, span) in block.span_iter() {
            self.statement(s, *span)?;
        }
        Ok(())
    }

    fn statement(&mut self, s: &St, span: naga::Span) -> Result<()> {
        match s {
            St::Emit(range) => {
                for h in range.clone() {
                    if self.is_pointer(h) {
                        // A place (a local variable or part of one): written where used.
                        self.primal(h)?;
                        continue;
                    }
                    let (p, t) = self.expression(h)?;
                    let i = h.index();
                    self.line(&format!("let e{i} = {p};"));
                    self.prim.insert(h, format!("e{i}"));
                    let t = match t {
                        Tan::Text(t) => {
                            self.line(&format!("let de{i} = {t};"));
                            Tan::Text(format!("de{i}"))
                        }
                        Tan::Zero => Tan::Zero,
                    };
                    self.tan.insert(h, t);
                }
            }
            St::Block(b) => {
                self.line("{");
                self.indent += 1;
                self.block(b)?;
                self.indent -= 1;
                self.line("}");
            }
            St::If {
                condition,
                accept,
                reject,
            } => {
                let c = self.primal(*condition)?;
                self.line(&format!("if ({c}) {{"));
                self.indent += 1;
                self.block(accept)?;
                self.indent -= 1;
                if !reject.is_empty() {
                    self.line("} else {");
                    self.indent += 1;
                    self.block(reject)?;
                    self.indent -= 1;
                }
                self.line("}");
            }
            St::Return { value } => match value {
                None => self.line("return;"),
                Some(v) => {
                    let p = self.primal(*v)?;
                    if self.result_floats() {
                        let d = self.tan_value(*v)?;
                        let dual = dual_name(self.name());
                        self.line(&format!("return {dual}({p}, {d});"));
                    } else {
                        self.line(&format!("return {p};"));
                    }
                }
            },
            St::Store { pointer, value } => {
                let place = self.primal(*pointer)?;
                let v = self.primal(*value)?;
                self.line(&format!("{place} = {v};"));
                if let Tan::Text(dplace) = self.tangent(*pointer)? {
                    let d = self.tan_value(*value)?;
                    self.line(&format!("{dplace} = {d};"));
                }
            }
            St::Call {
                function,
                arguments,
                result,
            } => {
                let callee = &self.module.functions[*function];
                let cname = callee.name.clone().unwrap_or_default();
                let mut args = Vec::new();
                for a in arguments {
                    args.push(self.primal(*a)?);
                }
                for (a, decl) in arguments.iter().zip(&callee.arguments) {
                    if has_floats(self.module, &self.module.types[decl.ty].inner) {
                        let d = self.tan_value(*a)?;
                        args.push(d);
                    }
                }
                let call = format!("{}({})", derived_name(&cname), args.join(", "));
                match result {
                    Some(r) => {
                        let i = r.index();
                        self.line(&format!("let c{i} = {call};"));
                        let returns_floats = callee.result.as_ref().is_some_and(|res| {
                            has_floats(self.module, &self.module.types[res.ty].inner)
                        });
                        if returns_floats {
                            self.prim.insert(*r, format!("c{i}.v"));
                            self.tan.insert(*r, Tan::Text(format!("c{i}.d")));
                        } else {
                            self.prim.insert(*r, format!("c{i}"));
                            self.tan.insert(*r, Tan::Zero);
                        }
                    }
                    None => self.line(&format!("{call};")),
                }
            }
            St::Loop { .. } | St::Break | St::Continue => {
                return Err(self.refuse(span, "a loop"));
            }
            St::Switch { .. } => return Err(self.refuse(span, "a `switch`")),
            _ => return Err(self.refuse(span, "this statement")),
        }
        Ok(())
    }

    fn name(&self) -> &str {
        self.func.name.as_deref().unwrap_or("")
    }

    fn result_floats(&self) -> bool {
        self.func
            .result
            .as_ref()
            .is_some_and(|r| has_floats(self.module, &self.module.types[r.ty].inner))
    }

    /// The whole derived function.
    fn function(mut self) -> Result<String> {
        let name = self.name().to_string();
        let module = self.module;
        let ty_of = |h| type_text(module, h);
        let mut params = Vec::new();
        let mut dparams = Vec::new();
        if self
            .func
            .arguments
            .iter()
            .any(|a| matches!(module.types[a.ty].inner, T::Pointer { .. }))
        {
            let span = self
                .func
                .body
                .span_iter()
                .next()
                .map_or(naga::Span::default(), |(_, s)| *s);
            return Err(self.refuse(span, "a function taking a pointer (`ptr<function, ..>`)"));
        }
        for (i, a) in self.func.arguments.iter().enumerate() {
            let ty = ty_of(a.ty);
            params.push(format!("a{i}: {ty}"));
            if has_floats(self.module, &self.module.types[a.ty].inner) {
                dparams.push(format!("da{i}: {ty}"));
            }
        }
        params.extend(dparams);
        let mut head = String::new();
        let ret = match &self.func.result {
            Some(r) if self.result_floats() => {
                let ty = ty_of(r.ty);
                let dual = dual_name(&name);
                let _ = writeln!(head, "struct {dual} {{\n    v: {ty},\n    d: {ty},\n}}");
                format!(" -> {dual}")
            }
            Some(r) => format!(" -> {}", ty_of(r.ty)),
            None => String::new(),
        };
        let _ = writeln!(
            head,
            "fn {}({}){ret} {{",
            derived_name(&name),
            params.join(", ")
        );
        for (h, lv) in self.func.local_variables.iter() {
            let ty = ty_of(lv.ty);
            let i = h.index();
            let init = match lv.init {
                Some(e) => format!(" = {}", self.primal(e)?),
                None => String::new(),
            };
            self.line(&format!("var l{i}: {ty}{init};"));
            if has_floats(self.module, &self.module.types[lv.ty].inner) {
                self.line(&format!("var dl{i}: {ty};"));
            }
        }
        let body = self.func.body.clone();
        self.block(&body)?;
        Ok(format!("{head}{}}}\n", self.out))
    }
}
