//! The graph store: dense integer ids, a name table, adjacency lists.
//!
//! Ids are positions in one `Vec`; a removed node leaves a hole so the ids of the others never
//! change. Iteration order is id order, which is insertion order.

use hashbrown::DefaultHashBuilder;
use hashbrown::HashMap;
use smallvec::SmallVec;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use crate::error::{DagError, Result};
use crate::name_index::NameIndex;
use crate::name_store::NameStore;
use crate::traversal;

mod bulk;
mod node_batch;

pub use node_batch::NodeBatch;

/// Dense node identifier: the node's position in insertion order (holes left by removals).
pub type NodeId = u32;

/// Optional attributes of an edge. Most edges have none and cost nothing extra.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeAttrs {
    /// A numeric weight (for example a transfer cost).
    pub weight: Option<f64>,
    /// A free-form label, shown by the DOT and Mermaid exports.
    pub label: Option<String>,
}

impl EdgeAttrs {
    /// True when the edge carries neither weight nor label.
    pub fn is_empty(&self) -> bool {
        self.weight.is_none() && self.label.is_none()
    }
}

/// Where a graph stood before a run of `add_node` calls; see [`Dag::node_mark`].
#[derive(Debug, Clone, Copy)]
pub struct NodeMark {
    bound: usize,
    edges: usize,
}

/// Which way every edge points along the id order. Ids follow insertion order, so a graph
/// built parents first (or children first) has all of its edges pointing one way: such a
/// graph is acyclic on sight, and an edge or batch that keeps it so needs no cycle search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Monotone {
    /// Every edge goes from a smaller id to a larger one.
    up: bool,
    /// Every edge goes from a larger id to a smaller one.
    down: bool,
}

impl Monotone {
    const EMPTY: Monotone = Monotone {
        up: true,
        down: true,
    };

    /// The state once `from -> to` is added as well.
    #[inline]
    fn with(self, from: NodeId, to: NodeId) -> Monotone {
        Monotone {
            up: self.up && from < to,
            down: self.down && from > to,
        }
    }

    /// True when the edges are known to form no cycle.
    fn acyclic(self) -> bool {
        self.up || self.down
    }
}

/// A name's hash as the name index files it: see [`Dag::name_hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameHash(pub(crate) u32);

/// The hasher of every graph's names: seeded at random once per process (so that names
/// chosen to collide cannot be worked out in advance), and built once, not per graph.
fn name_hasher() -> &'static DefaultHashBuilder {
    static HASHER: OnceLock<DefaultHashBuilder> = OnceLock::new();
    HASHER.get_or_init(DefaultHashBuilder::default)
}

/// One node's neighbour list. Most DAG nodes have a handful of neighbours, which then sit
/// inline in the list's own 24 bytes: reading or extending them costs no second cache miss and
/// building a graph costs no allocation per node.
pub(crate) type Adjacency = SmallVec<[NodeId; 4]>;

/// A directed acyclic graph whose nodes carry a name and a value of type `N`.
///
/// Every mutation keeps the graph acyclic: an edge that would close a cycle is refused with
/// [`DagError::Cycle`], and bulk operations apply all of their batch or none of it.
///
/// Storage is one array per field, indexed by id (struct of arrays): the liveness flags and
/// the adjacency lists that every algorithm walks are dense and small, names and values sit
/// apart until asked for.
///
/// ```
/// use dagron_core::Dag;
/// let mut dag: Dag = Dag::new();
/// let a = dag.add_node("a", ()).unwrap();
/// let b = dag.add_node("b", ()).unwrap();
/// dag.add_edge(a, b, None).unwrap();
/// assert!(dag.add_edge(b, a, None).is_err());
/// assert_eq!(dag.edge_count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Dag<N = ()> {
    alive: Vec<bool>,
    names: NameStore,
    data: Vec<Option<N>>,
    out: Vec<Adjacency>,
    inc: Vec<Adjacency>,
    index: NameIndex,
    hasher: &'static DefaultHashBuilder,
    live: usize,
    edges: usize,
    attrs: HashMap<(NodeId, NodeId), EdgeAttrs>,
    monotone: Monotone,
}

impl<N> Default for Dag<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Below this many edges a batch is checked edge by edge (a search from each new edge's head)
/// instead of one Kahn pass over the whole graph.
const INCREMENTAL_CHECK_MAX: usize = 8;

impl<N> Dag<N> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty graph with room for `nodes` nodes.
    pub fn with_capacity(nodes: usize) -> Self {
        Dag {
            alive: Vec::with_capacity(nodes),
            names: NameStore::with_capacity(nodes),
            data: Vec::with_capacity(nodes),
            out: Vec::with_capacity(nodes),
            inc: Vec::with_capacity(nodes),
            index: NameIndex::with_capacity(nodes),
            hasher: name_hasher(),
            live: 0,
            edges: 0,
            attrs: HashMap::new(),
            monotone: Monotone::EMPTY,
        }
    }

    // ----- nodes -------------------------------------------------------------------------

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.live
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edges
    }

    /// One past the largest id ever handed out; vectors indexed by id use this length.
    pub fn id_bound(&self) -> usize {
        self.alive.len()
    }

    /// The id of the node called `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        let NameHash(hash) = self.name_hash(name);
        self.index
            .find(hash, |id| self.names.bytes(id as usize) == name.as_bytes())
    }

    /// The hash under which the index files `name`.
    #[inline]
    pub(crate) fn name_hash(&self, name: &str) -> NameHash {
        // The bytes alone: `str`'s own `Hash` adds a terminator byte, a second round of the
        // hasher that a single key does not need.
        let mut hasher = self.hasher.build_hasher();
        hasher.write(name.as_bytes());
        NameHash(hasher.finish() as u32)
    }

    /// The id of `name`, or [`DagError::UnknownNode`].
    pub fn require(&self, name: &str) -> Result<NodeId> {
        self.node_id(name)
            .ok_or_else(|| DagError::UnknownNode(name.to_owned()))
    }

    /// True when `id` names a live node.
    #[inline]
    pub fn contains(&self, id: NodeId) -> bool {
        self.alive.get(id as usize).copied().unwrap_or(false)
    }

    #[inline]
    fn live_index(&self, id: NodeId) -> usize {
        assert!(self.contains(id), "dagron-core: id of a removed node");
        id as usize
    }

    /// The name of a live node.
    pub fn name(&self, id: NodeId) -> &str {
        self.names.get(self.live_index(id))
    }

    /// The value stored on a live node.
    pub fn data(&self, id: NodeId) -> &N {
        self.data[self.live_index(id)]
            .as_ref()
            .expect("live nodes have a value")
    }

    /// The value stored on a live node, mutably.
    pub fn data_mut(&mut self, id: NodeId) -> &mut N {
        let i = self.live_index(id);
        self.data[i].as_mut().expect("live nodes have a value")
    }

    /// Live node ids in insertion order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.alive
            .iter()
            .enumerate()
            .filter(|(_, &a)| a)
            .map(|(i, _)| i as NodeId)
    }

    /// Adds a node and returns its id.
    ///
    /// `name` may be any string type; its text is copied into the graph's name buffer.
    #[inline]
    pub fn add_node<S>(&mut self, name: S, data: N) -> Result<NodeId>
    where
        S: AsRef<str>,
    {
        let name = name.as_ref();
        let id = self.push_name(name, self.name_hash(name))?;
        self.data.push(Some(data));
        Ok(id)
    }

    /// [`Dag::add_node`] for a value that carries its own name: `name_of` reads the name
    /// from the value (and may fail, with the caller's error), and the value is stored once
    /// the name is copied. A caller whose value owns the name (the Python bindings keep the
    /// name's `str`) then needs no second handle on it just to read its text.
    ///
    /// ```
    /// use dagron_core::{Dag, DagError};
    /// use std::borrow::Cow;
    /// fn named(value: &String) -> Result<Cow<'_, str>, &'static str> {
    ///     match value.split_once(':') {
    ///         Some((name, _)) => Ok(Cow::Borrowed(name)),
    ///         None => Err("no name"),
    ///     }
    /// }
    /// let mut dag: Dag<String> = Dag::new();
    /// assert_eq!(dag.add_node_named_by("a:1".to_string(), named), Ok(Ok(0)));
    /// assert_eq!((dag.name(0), dag.data(0).as_str()), ("a", "a:1"));
    /// assert_eq!(
    ///     dag.add_node_named_by("a:2".to_string(), named),
    ///     Ok(Err(DagError::DuplicateNode("a".into())))
    /// );
    /// assert_eq!(dag.add_node_named_by("b".to_string(), named), Err("no name"));
    /// assert_eq!(dag.node_count(), 1);
    /// ```
    #[inline(always)]
    pub fn add_node_named_by<E, F>(
        &mut self,
        data: N,
        name_of: F,
    ) -> std::result::Result<Result<NodeId>, E>
    where
        F: FnOnce(&N) -> std::result::Result<std::borrow::Cow<'_, str>, E>,
    {
        let name = name_of(&data)?;
        let id = match self.push_name(&name, self.name_hash(&name)) {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        self.data.push(Some(data));
        Ok(Ok(id))
    }

    /// Everything of a new node but its value, which the caller pushes next. Inlined: called
    /// out of line, reading its `Result` back from the stack stalled every call (perf put a
    /// third of a chain build's samples on that load).
    #[inline(always)]
    fn push_name(&mut self, text: &str, NameHash(hash): NameHash) -> Result<NodeId> {
        let id = self.next_id()?;
        // One probe both refuses a duplicate and files the new name.
        let names = &self.names;
        if self
            .index
            .insert_unless(hash, id, |other| {
                names.bytes(other as usize) == text.as_bytes()
            })
            .is_some()
        {
            return Err(DagError::DuplicateNode(text.to_owned()));
        }
        self.push_unindexed(text);
        Ok(id)
    }

    /// The id the next node gets, or the error for a graph that has run out of ids.
    #[inline(always)]
    fn next_id(&self) -> Result<NodeId> {
        NodeId::try_from(self.alive.len())
            .ok()
            .filter(|&id| id != NodeId::MAX)
            .ok_or_else(|| DagError::InvalidArgument("more than 2^32 - 1 nodes".into()))
    }

    /// A new node's arrays, all but its value (the caller pushes it next), without filing
    /// its name in the index.
    #[inline(always)]
    fn push_unindexed(&mut self, text: &str) {
        self.alive.push(true);
        self.names.push(text);
        self.out.push(Adjacency::new());
        self.inc.push(Adjacency::new());
        self.live += 1;
    }

    /// Adds many nodes; on a duplicate name nothing of the batch is kept.
    pub fn add_nodes<S, I>(&mut self, batch: I) -> Result<Vec<NodeId>>
    where
        S: AsRef<str>,
        I: IntoIterator<Item = (S, N)>,
    {
        let iter = batch.into_iter();
        let (lower, _) = iter.size_hint();
        self.reserve_nodes(lower);
        let mut added = Vec::with_capacity(lower);
        for (name, data) in iter {
            match self.add_node(name, data) {
                Ok(id) => added.push(id),
                Err(e) => {
                    for &id in added.iter().rev() {
                        self.pop_fresh_node(id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(added)
    }

    /// Room for `extra` more nodes in every per-node array and in the name index.
    pub fn reserve_nodes(&mut self, extra: usize) {
        self.alive.reserve(extra);
        self.names.reserve(extra);
        self.data.reserve(extra);
        self.out.reserve(extra);
        self.inc.reserve(extra);
        self.index.reserve(extra);
    }

    /// A mark to [`Dag::rollback_nodes`] to: lets a caller that adds nodes one at a time
    /// (parsing each as it goes) keep a batch all-or-nothing.
    pub fn node_mark(&self) -> NodeMark {
        NodeMark {
            bound: self.id_bound(),
            edges: self.edges,
        }
    }

    /// Removes every node added since `mark`. Only nodes may have been added since: no
    /// edges, no removals (checked).
    pub fn rollback_nodes(&mut self, mark: NodeMark) {
        assert_eq!(
            self.edges, mark.edges,
            "dagron-core: edges changed since the node mark"
        );
        while self.id_bound() > mark.bound {
            self.pop_fresh_node(self.id_bound() as NodeId - 1);
        }
    }

    /// Undoes `add_node` for the most recently added node.
    fn pop_fresh_node(&mut self, id: NodeId) {
        debug_assert_eq!(id as usize + 1, self.alive.len());
        self.unindex(id);
        self.alive.pop();
        self.names.pop();
        self.data.pop();
        self.out.pop();
        self.inc.pop();
        self.live -= 1;
    }

    fn unindex(&mut self, id: NodeId) {
        let NameHash(hash) = self.name_hash(self.names.get(id as usize));
        self.index.remove(hash, id);
    }

    /// Removes a node and every edge touching it; returns its value.
    pub fn remove_node(&mut self, id: NodeId) -> Result<N> {
        if !self.contains(id) {
            return Err(DagError::UnknownNode(format!("#{id}")));
        }
        self.unindex(id);
        let i = id as usize;
        self.alive[i] = false;
        self.names.forget(i, &self.alive);
        let out = std::mem::take(&mut self.out[i]);
        let inc = std::mem::take(&mut self.inc[i]);
        for &s in &out {
            self.inc[s as usize].retain(|p| *p != id);
            self.attrs.remove(&(id, s));
        }
        for &p in &inc {
            self.out[p as usize].retain(|c| *c != id);
            self.attrs.remove(&(p, id));
        }
        self.edges -= out.len() + inc.len();
        self.forget_directions_if_edgeless();
        self.live -= 1;
        Ok(self.data[i].take().expect("live nodes have a value"))
    }

    // ----- edges -------------------------------------------------------------------------

    /// True when the edge `from -> to` exists.
    pub fn has_edge(&self, from: NodeId, to: NodeId) -> bool {
        if !self.contains(from) || !self.contains(to) {
            return false;
        }
        let (out, inc) = (&self.out[from as usize], &self.inc[to as usize]);
        if out.len() <= inc.len() {
            out.contains(&to)
        } else {
            inc.contains(&from)
        }
    }

    /// Attributes of an edge, if it has any.
    pub fn edge_attrs(&self, from: NodeId, to: NodeId) -> Option<&EdgeAttrs> {
        self.attrs.get(&(from, to))
    }

    /// Every id's successor list, indexed by id (a removed node's is empty): for passes over
    /// the whole graph, which then need no liveness check per node.
    pub(crate) fn out_lists(&self) -> &[Adjacency] {
        &self.out
    }

    /// Every id's predecessor list, indexed by id (a removed node's is empty).
    pub(crate) fn in_lists(&self) -> &[Adjacency] {
        &self.inc
    }

    /// Direct successors in edge insertion order.
    pub fn successors(&self, id: NodeId) -> &[NodeId] {
        &self.out[self.live_index(id)]
    }

    /// Direct predecessors in edge insertion order.
    pub fn predecessors(&self, id: NodeId) -> &[NodeId] {
        &self.inc[self.live_index(id)]
    }

    /// Number of incoming edges.
    pub fn in_degree(&self, id: NodeId) -> usize {
        self.inc[self.live_index(id)].len()
    }

    /// Number of outgoing edges.
    pub fn out_degree(&self, id: NodeId) -> usize {
        self.out[self.live_index(id)].len()
    }

    /// Every edge as `(from, to)`, grouped by source in insertion order.
    pub fn edge_ids(&self) -> impl Iterator<Item = (NodeId, NodeId)> + '_ {
        self.out
            .iter()
            .enumerate()
            .flat_map(|(i, out)| out.iter().map(move |&t| (i as NodeId, t)))
    }

    fn check_endpoints(&self, from: NodeId, to: NodeId) -> Result<()> {
        for id in [from, to] {
            if !self.contains(id) {
                return Err(DagError::UnknownNode(format!("#{id}")));
            }
        }
        if self.has_edge(from, to) {
            return Err(DagError::DuplicateEdge {
                from: self.name(from).to_owned(),
                to: self.name(to).to_owned(),
            });
        }
        Ok(())
    }

    fn push_edge(&mut self, from: NodeId, to: NodeId, attrs: Option<EdgeAttrs>) {
        self.monotone = self.monotone.with(from, to);
        self.out[from as usize].push(to);
        self.inc[to as usize].push(from);
        if let Some(a) = attrs.filter(|a| !a.is_empty()) {
            self.attrs.insert((from, to), a);
        }
        self.edges += 1;
    }

    /// Undoes `push_edge` for the most recent edge out of `from` and into `to`.
    fn pop_edge(&mut self, from: NodeId, to: NodeId) {
        self.out[from as usize].pop();
        self.inc[to as usize].pop();
        self.attrs.remove(&(from, to));
        self.edges -= 1;
    }

    /// Adds the edge `from -> to`, refusing duplicates and cycles.
    pub fn add_edge(&mut self, from: NodeId, to: NodeId, attrs: Option<EdgeAttrs>) -> Result<()> {
        self.check_endpoints(from, to)?;
        if !self.monotone.with(from, to).acyclic() {
            if let Some(path) = traversal::path_between(self, to, from) {
                return Err(self.cycle_error(path, true));
            }
        }
        self.push_edge(from, to, attrs);
        Ok(())
    }

    /// Adds many edges; on any error (unknown node, duplicate, cycle) nothing of the batch is
    /// kept. Runs in O(V + E) for large batches whatever their order.
    pub fn add_edges<I>(&mut self, batch: I) -> Result<()>
    where
        I: IntoIterator<Item = (NodeId, NodeId, Option<EdgeAttrs>)>,
    {
        let mut pairs = Vec::new();
        let mut attrs = Vec::new();
        for (k, (from, to, a)) in batch.into_iter().enumerate() {
            pairs.push((from, to));
            if let Some(a) = a {
                attrs.push((k, a));
            }
        }
        self.add_edge_list(&pairs, attrs)
    }

    /// [`Dag::add_edges`] for a batch given as plain pairs, with the attributes of the few
    /// edges that have any as `(position in pairs, attributes)`, in position order. Keeping
    /// the pairs compact keeps a large batch cheap to walk.
    pub fn add_edge_list(
        &mut self,
        pairs: &[(NodeId, NodeId)],
        attrs: Vec<(usize, EdgeAttrs)>,
    ) -> Result<()> {
        let before = self.monotone;
        let result = self.push_edge_list(pairs, attrs);
        if result.is_err() {
            // Nothing of the batch is left; neither is what it told about edge directions.
            self.monotone = before;
        }
        result
    }

    fn push_edge_list(
        &mut self,
        pairs: &[(NodeId, NodeId)],
        attrs: Vec<(usize, EdgeAttrs)>,
    ) -> Result<()> {
        if pairs.len() > INCREMENTAL_CHECK_MAX
            && pairs.len() * 4 >= self.id_bound()
            && self.push_grouped(pairs)
        {
            for (k, a) in attrs.into_iter().filter(|(_, a)| !a.is_empty()) {
                self.attrs.insert(pairs[k], a);
            }
            return self
                .check_new_edges(pairs)
                .inspect_err(|_| self.pop_grouped(pairs));
        }
        self.reserve_adjacency(pairs);
        let mut attrs = attrs.into_iter().peekable();
        let mut pushed = 0usize;
        let mut failure = None;
        for (k, &(from, to)) in pairs.iter().enumerate() {
            if let Err(e) = self.check_endpoints(from, to) {
                failure = Some(e);
                break;
            }
            let a = attrs.next_if(|(at, _)| *at == k).map(|(_, a)| a);
            self.push_edge(from, to, a);
            pushed += 1;
        }
        if failure.is_none() && pushed > 0 {
            failure = self.check_new_edges(pairs).err();
        }
        match failure {
            None => Ok(()),
            Some(e) => {
                for &(from, to) in pairs[..pushed].iter().rev() {
                    self.pop_edge(from, to);
                }
                Err(e)
            }
        }
    }

    /// Grows each touched adjacency list once, to its final size, instead of doubling it
    /// edge by edge: fewer reallocations and no slack. Worth it only for batches that are
    /// large next to the graph, since it counts over all ids.
    fn reserve_adjacency(&mut self, batch: &[(NodeId, NodeId)]) {
        let n = self.id_bound();
        if batch.len() * 4 < n {
            return;
        }
        let mut extra_out = vec![0u32; n];
        let mut extra_in = vec![0u32; n];
        for &(from, to) in batch {
            if let (Some(o), Some(i)) = (
                extra_out.get_mut(from as usize),
                extra_in.get_mut(to as usize),
            ) {
                *o += 1;
                *i += 1;
            }
        }
        for (list, extra) in self.out.iter_mut().zip(extra_out) {
            list.reserve_exact(extra as usize);
        }
        for (list, extra) in self.inc.iter_mut().zip(extra_in) {
            list.reserve_exact(extra as usize);
        }
    }

    /// Checks that the already-pushed `new` edges closed no cycle.
    fn check_new_edges(&self, new: &[(NodeId, NodeId)]) -> Result<()> {
        if self.monotone.acyclic() {
            return Ok(());
        }
        if new.len() <= INCREMENTAL_CHECK_MAX {
            for &(from, to) in new {
                if let Some(path) = traversal::path_between(self, to, from) {
                    return Err(self.cycle_error(path, true));
                }
            }
            return Ok(());
        }
        // A batch about as large as the graph (building it) reaches most of it anyway: one
        // plain Kahn pass is cheaper than first marking out the reachable region.
        let found = if new.len() * 2 >= self.node_count() {
            crate::dag_algo::find_cycle(self)
        } else {
            let heads: Vec<NodeId> = new.iter().map(|&(_, to)| to).collect();
            crate::dag_algo::find_cycle_from(self, &heads)
        };
        match found {
            Some(cycle) => Err(self.cycle_error(cycle, false)),
            None => Ok(()),
        }
    }

    /// Builds a `Cycle` error from a node path. With `closing_edge`, `path` runs from the new
    /// edge's head to its tail, and the tail -> head edge is what closes it.
    fn cycle_error(&self, path: Vec<NodeId>, closing_edge: bool) -> DagError {
        let mut names: Vec<String> = Vec::with_capacity(path.len() + 2);
        if closing_edge {
            // path: to ... from; the cycle reads from -> to -> ... -> from.
            names.push(self.name(*path.last().expect("non-empty")).to_owned());
            names.extend(path.iter().map(|&i| self.name(i).to_owned()));
        } else {
            names.extend(path.iter().map(|&i| self.name(i).to_owned()));
            if let Some(first) = path.first() {
                names.push(self.name(*first).to_owned());
            }
        }
        DagError::Cycle { path: names }
    }

    /// Removes the edge `from -> to`.
    pub fn remove_edge(&mut self, from: NodeId, to: NodeId) -> Result<()> {
        if !self.has_edge(from, to) {
            let name = |id| {
                if self.contains(id) {
                    self.name(id).to_owned()
                } else {
                    format!("#{id}")
                }
            };
            return Err(DagError::UnknownEdge {
                from: name(from),
                to: name(to),
            });
        }
        let out = &mut self.out[from as usize];
        let pos = out.iter().position(|&t| t == to).expect("edge exists");
        out.remove(pos);
        let inc = &mut self.inc[to as usize];
        let pos = inc.iter().position(|&f| f == from).expect("edge exists");
        inc.remove(pos);
        self.attrs.remove(&(from, to));
        self.edges -= 1;
        self.forget_directions_if_edgeless();
        Ok(())
    }

    /// With no edge left, nothing constrains which way the next ones may point.
    fn forget_directions_if_edgeless(&mut self) {
        if self.edges == 0 {
            self.monotone = Monotone::EMPTY;
        }
    }

    /// A new graph holding only `keep` (in this graph's order) and the edges among them, with
    /// each node's value made by `map`.
    pub fn subgraph_map<M, F>(&self, keep: &[NodeId], mut map: F) -> Result<Dag<M>>
    where
        F: FnMut(NodeId, &N) -> M,
    {
        let mut selected = vec![false; self.id_bound()];
        for &id in keep {
            if !self.contains(id) {
                return Err(DagError::UnknownNode(format!("#{id}")));
            }
            selected[id as usize] = true;
        }
        let mut remap = vec![NodeId::MAX; self.id_bound()];
        let mut sub = Dag::with_capacity(keep.len());
        for id in self.node_ids().filter(|&i| selected[i as usize]) {
            remap[id as usize] = sub.add_node(self.name(id), map(id, self.data(id)))?;
        }
        for id in self.node_ids().filter(|&i| selected[i as usize]) {
            for &t in self.successors(id) {
                if selected[t as usize] {
                    let attrs = self.edge_attrs(id, t).cloned();
                    sub.push_edge(remap[id as usize], remap[t as usize], attrs);
                }
            }
        }
        Ok(sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` nodes called `n0`, `n1`, ... and no edges.
    pub(super) fn nodes(n: usize) -> Dag {
        let mut dag = Dag::new();
        let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        dag.add_nodes(names.iter().map(|s| (s.as_str(), ())))
            .unwrap();
        dag
    }

    fn chain(n: usize) -> Dag {
        let mut dag = nodes(n);
        dag.add_edges((1..n as u32).map(|i| (i - 1, i, None)))
            .unwrap();
        dag
    }

    #[test]
    fn duplicate_node_in_batch_keeps_nothing() {
        let mut dag: Dag = Dag::new();
        dag.add_node("x", ()).unwrap();
        let err = dag
            .add_nodes([("a", ()), ("b", ()), ("a", ())])
            .unwrap_err();
        assert_eq!(err, DagError::DuplicateNode("a".into()));
        assert_eq!(dag.node_count(), 1);
        assert!(dag.node_id("b").is_none());
        assert_eq!(dag.add_node("a", ()).unwrap(), 1);
    }

    #[test]
    fn single_edge_cycle_reports_closed_path() {
        let mut dag = chain(3);
        let err = dag.add_edge(2, 0, None).unwrap_err();
        assert_eq!(
            err,
            DagError::Cycle {
                path: vec!["n2".into(), "n0".into(), "n1".into(), "n2".into()]
            }
        );
        assert_eq!(dag.edge_count(), 2);
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let mut dag = chain(1);
        let err = dag.add_edge(0, 0, None).unwrap_err();
        assert_eq!(
            err,
            DagError::Cycle {
                path: vec!["n0".into(), "n0".into()]
            }
        );
    }

    #[test]
    fn large_batch_with_cycle_keeps_nothing() {
        let mut dag = chain(20);
        let before: Vec<_> = dag.edge_ids().collect();
        let mut batch: Vec<_> = (0..19u32)
            .map(|i| (i, i + 2 - (i == 18) as u32, None))
            .collect();
        batch.pop();
        batch.push((19, 0, None));
        let err = dag.add_edges(batch).unwrap_err();
        assert!(matches!(err, DagError::Cycle { .. }));
        assert_eq!(dag.edge_ids().collect::<Vec<_>>(), before);
    }

    #[test]
    fn duplicate_edge_in_batch_keeps_nothing() {
        let mut dag = chain(3);
        let err = dag.add_edges([(0, 2, None), (0, 2, None)]).unwrap_err();
        assert!(matches!(err, DagError::DuplicateEdge { .. }));
        assert_eq!(dag.edge_count(), 2);
    }

    #[test]
    fn remove_node_drops_its_edges_and_name() {
        let mut dag = chain(3);
        dag.remove_node(1).unwrap();
        assert_eq!(dag.node_count(), 2);
        assert_eq!(dag.edge_count(), 0);
        assert!(dag.node_id("n1").is_none());
        assert_eq!(dag.node_ids().collect::<Vec<_>>(), vec![0, 2]);
        let again = dag.add_node("n1", ()).unwrap();
        assert_eq!(again, 3);
    }

    #[test]
    fn remove_edge_keeps_order_of_the_rest() {
        let mut dag = chain(1);
        for n in ["a", "b", "c"] {
            dag.add_node(n, ()).unwrap();
        }
        dag.add_edges([(0, 1, None), (0, 2, None), (0, 3, None)])
            .unwrap();
        dag.remove_edge(0, 2).unwrap();
        assert_eq!(dag.successors(0), &[1, 3]);
        assert!(dag.remove_edge(0, 2).is_err());
    }

    #[test]
    fn subgraph_keeps_inner_edges_and_attrs() {
        let mut dag = chain(4);
        dag.add_edge(
            0,
            2,
            Some(EdgeAttrs {
                weight: Some(2.0),
                label: None,
            }),
        )
        .unwrap();
        let sub = dag.subgraph_map(&[2, 0, 3], |_, _| ()).unwrap();
        assert_eq!(sub.node_count(), 3);
        assert_eq!(sub.name(0), "n0");
        assert_eq!(sub.edge_ids().collect::<Vec<_>>(), vec![(0, 1), (1, 2)]);
        assert_eq!(sub.edge_attrs(0, 1).unwrap().weight, Some(2.0));
    }

    #[test]
    fn edges_pointing_one_way_skip_the_search_but_a_turn_is_still_checked() {
        let mut dag = nodes(6);
        dag.add_edges((0..5).map(|i| (i, i + 1, None))).unwrap();
        assert_eq!(
            dag.monotone,
            Monotone {
                up: true,
                down: false
            }
        );
        // The first edge pointing down the ids turns the search back on, and finds the cycle.
        let err = dag.add_edge(5, 0, None).unwrap_err();
        assert!(matches!(err, DagError::Cycle { .. }));
        dag.add_edge(5, 4, None).unwrap_err();
        dag.add_edge(3, 1, None).unwrap_err();
        assert_eq!(
            dag.monotone,
            Monotone {
                up: true,
                down: false
            }
        );
        // A down edge that closes no cycle is kept; from then on every edge is searched.
        let mut dag = nodes(6);
        dag.add_edges((0..3).map(|i| (i, i + 1, None))).unwrap();
        dag.add_edge(5, 4, None).unwrap();
        assert!(!dag.monotone.acyclic());
        assert!(matches!(
            dag.add_edge(3, 0, None),
            Err(DagError::Cycle { .. })
        ));
    }

    #[test]
    fn a_refused_batch_leaves_the_directions_as_they_were() {
        let mut dag = nodes(40);
        dag.add_edges((0..20).map(|i| (i, i + 1, None))).unwrap();
        // Large enough for the grouped path; the last edge closes a cycle down the ids.
        let mut batch: Vec<_> = (20..39).map(|i| (i, i + 1, None)).collect();
        batch.push((39, 0, None));
        assert!(matches!(
            dag.add_edges(batch.clone()),
            Err(DagError::Cycle { .. })
        ));
        assert_eq!(
            dag.monotone,
            Monotone {
                up: true,
                down: false
            }
        );
        // The same batch edge by edge (small batches take the other path).
        assert!(dag.add_edges([(20, 21, None), (21, 0, None)]).is_err());
        assert_eq!(
            dag.monotone,
            Monotone {
                up: true,
                down: false
            }
        );
        batch.pop();
        dag.add_edges(batch).unwrap();
        assert_eq!(dag.edge_count(), 39);
    }

    #[test]
    fn a_graph_built_children_first_and_one_left_edgeless_start_over() {
        let mut dag = nodes(50);
        dag.add_edges((0..49).rev().map(|i| (i + 1, i, None)))
            .unwrap();
        assert_eq!(
            dag.monotone,
            Monotone {
                up: false,
                down: true
            }
        );
        assert!(matches!(
            dag.add_edge(0, 49, None),
            Err(DagError::Cycle { .. })
        ));
        for i in 0..49 {
            dag.remove_edge(i + 1, i).unwrap();
        }
        assert_eq!(dag.monotone, Monotone::EMPTY);
        dag.add_edge(0, 49, None).unwrap();
        dag.remove_node(0).unwrap();
        assert_eq!(dag.monotone, Monotone::EMPTY);
    }

    #[test]
    fn names_stay_findable_through_growth_removal_and_re_adding() {
        let mut dag: Dag = Dag::new();
        // One at a time, so the index grows (and rehashes from its stored bits) many times.
        let names: Vec<String> = (0..20_000).map(|i| format!("name-{i}")).collect();
        for n in &names {
            dag.add_node(n, ()).unwrap();
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(dag.node_id(n), Some(i as NodeId));
            assert!(matches!(
                dag.add_node(n, ()),
                Err(DagError::DuplicateNode(_))
            ));
        }
        assert_eq!(dag.node_id("name-20000"), None);
        for i in (0..20_000).step_by(3) {
            dag.remove_node(i as NodeId).unwrap();
        }
        for (i, n) in names.iter().enumerate() {
            let expected = (i % 3 != 0).then_some(i as NodeId);
            assert_eq!(dag.node_id(n), expected);
        }
        let again = dag.add_node(&names[0], ()).unwrap();
        assert_eq!(dag.node_id(&names[0]), Some(again));
    }
}
