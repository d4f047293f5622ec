// Draws the statistics chart from the figures the page wrote into the canvas (the table below shows the same).
document.addEventListener('DOMContentLoaded', () => {
  const canvas = document.getElementById('stats-chart');
  if (!canvas || typeof window.Chart !== 'function') return;
  let data;
  try {
    data = JSON.parse(canvas.dataset.chart || '{}');
  } catch {
    return;
  }
  const money = new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });
  const reduceMotion = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  const narrow = window.matchMedia && window.matchMedia('(max-width: 720px)').matches;
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = '#4b5563';
  new window.Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        { type: 'bar', label: `Revenue excl. VAT (${data.currency})`, data: data.excl, yAxisID: 'revenue', order: 2, backgroundColor: '#1d4ed8', borderRadius: 2, maxBarThickness: 48 },
        { type: 'bar', label: `Revenue incl. VAT (${data.currency})`, data: data.incl, yAxisID: 'revenue', order: 3, backgroundColor: '#93c5fd', borderRadius: 2, maxBarThickness: 48 },
        { type: 'line', label: 'Orders', data: data.orders, yAxisID: 'orders', order: 1, borderColor: '#b45309', backgroundColor: '#b45309', borderWidth: 2, pointRadius: data.labels.length > 60 ? 0 : 3, tension: 0.2 },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: reduceMotion ? false : { duration: 300 },
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 12 } },
        revenue: {
          position: 'left', beginAtZero: true,
          title: { display: !narrow, text: data.currency },
          ticks: { callback: (v) => compact.format(v) },
        },
        orders: {
          position: 'right', beginAtZero: true, grid: { drawOnChartArea: false },
          title: { display: !narrow, text: 'Orders' },
          ticks: { precision: 0 },
        },
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: narrow ? 10 : 14, boxHeight: narrow ? 10 : 12 } },
        tooltip: {
          callbacks: {
            label: (ctx) => (ctx.dataset.yAxisID === 'orders'
              ? `${ctx.dataset.label}: ${ctx.parsed.y}`
              : `${ctx.dataset.label}: ${money.format(ctx.parsed.y)}`),
          },
        },
      },
    },
  });
});
